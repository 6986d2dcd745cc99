//! HRD and schema.hrd parsing, and conversion of actor schemas to Cap'n Proto.
