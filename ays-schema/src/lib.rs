//! Cap'n Proto models of AYS and the dynamic codec for service data.
