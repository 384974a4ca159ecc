//! Loading sample model artifacts and computing their outputs.
