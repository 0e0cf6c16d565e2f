//! The active/standby pair on DynamoDB (`[ha]`, an adapter): the lease with its epoch and the
//! keeper that holds it (publishing the node's `ports::ha::Role`), the fenced, replicated
//! `EventStore` (`HaStore`) and the tail that copies the table into a follower's local log, on
//! one table whose layout is `table`'s. The DynamoDB client comes from `crate::aws` (the `[aws]` endpoint and
//! credential rules).

mod keeper;
pub mod lease;
mod log;
mod store;
mod table;
mod tail;

pub use keeper::{Keeper, KeeperHandle};
pub use lease::Lease;
pub use log::{AppendError, Applied, MAX_BATCH};
pub use store::HaStore;
pub use table::{Table, TableError};
pub use tail::tail;

use crate::config::{AwsConfig, HaConfig};

/// The pair's table from `[ha]`, through a client built from `[aws]` (standard chain).
pub async fn table(aws: &AwsConfig, ha: &HaConfig) -> Table {
    let clients = crate::aws::AwsClients::connect(aws).await;
    Table::new(clients.dynamodb, ha.table.clone())
}
