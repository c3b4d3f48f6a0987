//! `lamina-nn` will hold Lamina's layers (`Linear`, convolutions, recurrent cells,
//! attention), activations, losses, initialisers and the `Module` trait with
//! safetensors weight files.
//!
//! Nothing here works yet: the nn/optim issue fills this crate.
