//! The one apply path: server-side apply under one field manager, with ownership labels.
