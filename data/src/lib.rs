//! `lamina-data` will hold Lamina's data pipeline: `Dataset`, `DataLoader` with seeded
//! shuffling and worker threads, CSV/IDX/text loaders, transforms and splits.
//!
//! Nothing here works yet: the data issue fills this crate.
