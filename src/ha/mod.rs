//! The active/standby pair on DynamoDB (`[ha]`, an adapter): the lease with its epoch and the
//! keeper that holds it (publishing the node's `ports::ha::Role`), on one table whose layout
//! is `table`'s. The DynamoDB client comes from `crate::aws` (the `[aws]` endpoint and
//! credential rules).

mod keeper;
pub mod lease;
mod table;

pub use keeper::{Keeper, KeeperHandle};
pub use lease::Lease;
pub use table::{Table, TableError};

use crate::config::{AwsConfig, HaConfig};

/// The pair's table from `[ha]`, through a client built from `[aws]` (standard chain).
pub async fn table(aws: &AwsConfig, ha: &HaConfig) -> Table {
    let clients = crate::aws::AwsClients::connect(aws).await;
    Table::new(clients.dynamodb, ha.table.clone())
}
