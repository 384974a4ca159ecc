//! Scheduling checks: models Ready or ScheduleFailed with the expected reason; runtimes and servers Ready.
