//! Team setup: namespaces, policies, SeldonRuntime, Servers and Models, and cleanup.
