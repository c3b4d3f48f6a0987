//! `lamina-optim` will hold Lamina's optimizers (SGD, Adam, AdamW, RMSprop, Adagrad),
//! regularisation, gradient clipping and learning-rate schedules, with serialisable state.
//!
//! Nothing here works yet: the nn/optim issue fills this crate.
