//! The actioner's request/reply endpoints (group `vigil.actioner`, queue
//! group `actioner`): one line per endpoint.

use std::sync::Arc;

use vigil_bus::subjects::actioner;
use vigil_runtime::endpoints::EndpointTable;

use crate::{api, Shared};

pub(crate) fn table() -> EndpointTable<Shared> {
    EndpointTable::new(actioner::GROUP)
        .handle(actioner::REQUEST, |s: Arc<Shared>, r| async move { api::request(&s, r).await })
        .handle(actioner::LIST, |s: Arc<Shared>, r| async move { api::list(&s, r).await })
        .handle(actioner::GET, |s: Arc<Shared>, r| async move { api::get(&s, r).await })
        .handle(actioner::PENDING, |s: Arc<Shared>, r| async move { api::pending(&s, r).await })
}
