//! Scenario files: the YAML format, parsing with locations, and validation.
