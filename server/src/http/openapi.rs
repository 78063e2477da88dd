//! The OpenAPI description of the key API, served at `/v1/openapi.json`: the paths come from the
//! handlers' `#[utoipa::path]` attributes, the request shapes from the types they parse, and the
//! response shapes from `schema.rs`. `server/tests/openapi.rs` holds it to what the server really
//! answers (every field it sends is described) and to the README's route table.

use utoipa::OpenApi;

use super::schema::{
    BatchResponse, ErrorBody, KeyResponse, KeyValue, OpResult, RangeResponse, RootResponse, TxnResponse,
    WatchEvent, WriteResponse,
};
use super::{kv, txn, watch};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "redraft HTTP API",
        description = "Keys, ranges, transactions, batches and watch over one Raft log. \
        Keys and values are UTF-8 text, with `_base64` fields for other bytes, or base64 everywhere with `encoding=base64`."
    ),
    paths(
        kv::get_key,
        kv::get_root,
        kv::put_key,
        kv::put_root,
        kv::delete_key,
        kv::delete_root,
        txn::txn,
        txn::batch,
        watch::watch
    ),
    components(schemas(
        kv::PutBody,
        txn::TxnBody,
        txn::BatchBody,
        txn::CompareBody,
        txn::OpBody,
        txn::PutOp,
        txn::KeyOp,
        KeyValue,
        KeyResponse,
        RangeResponse,
        RootResponse,
        WriteResponse,
        TxnResponse,
        BatchResponse,
        OpResult,
        ErrorBody,
        WatchEvent
    ))
)]
pub struct ApiDoc;

/// The description as JSON.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().expect("the description serializes")
}
