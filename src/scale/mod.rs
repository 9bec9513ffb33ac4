//! Scale-out: a run cut into shards that run anywhere ([`shard`]) and merged back into
//! exactly the outputs of one run ([`merge`]), and runs that survive being killed
//! ([`resume`]). Above the workflows: a shard, a merge or a resumed run ends in the outputs
//! a single run writes.

pub mod merge;
pub mod resume;
pub mod shard;
pub mod split;
