//! `/v1/data/{path}`: the Data API as the official clients call it.
//!
//! GET a file (its bytes) or a directory (a listing page), HEAD (exists), PUT a file,
//! POST `{"name", "acl"?}` to a directory (a new sub-directory), DELETE (`force=true` for
//! a directory that is not empty), PATCH `{"acl"}` on a collection.

use std::collections::HashMap;
use std::sync::Arc;

use algorithmia_v1::{ErrorBody, ErrorKind, Reply, mime};
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Acl, Caller, Data, DataError, DataPath, Entry, Listed, http_date, not_found, rfc3339_millis,
};
use crate::protocol;
use crate::server::AppState;

/// Header saying whether a path is a `file` or a `directory`, as Algorithmia's API sent.
const DATA_TYPE_HEADER: &str = "x-data-type";

impl IntoResponse for DataError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            DataError::Path(_) | DataError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, ErrorKind::BadRequest)
            }
            DataError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                ErrorKind::Other("PermissionError".into()),
            ),
            DataError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            DataError::Conflict(_) => (StatusCode::CONFLICT, ErrorKind::Other("Conflict".into())),
            DataError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::InternalError),
        };
        let message = self.to_string();
        let reply = Reply::Error {
            error: ErrorBody::typed(kind, message.clone()),
            metadata: None,
        };
        protocol::error_response(status, &reply, &message)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DataError> + Send + 'static,
) -> Result<T, DataError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| Err(DataError::Internal(format!("storage task failed: {error}"))))
}

fn parsed(path: &str, caller: &Caller) -> Result<DataPath, DataError> {
    Ok(DataPath::parse(path, caller)?)
}

fn data(state: &AppState) -> Arc<Data> {
    Arc::clone(&state.data)
}

pub async fn head(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<String>,
) -> Result<Response, DataError> {
    let path = parsed(&path, &caller)?;
    let data = data(&state);
    let asked = path.clone();
    let entry = blocking(move || data.stat(&caller, &asked)).await?;
    match entry {
        Some(Entry::File { size, modified }) => Ok((
            [
                (DATA_TYPE_HEADER, "file".to_owned()),
                (header::LAST_MODIFIED.as_str(), http_date(modified)),
                ("x-data-size", size.to_string()),
            ],
            Body::empty(),
        )
            .into_response()),
        Some(Entry::Dir) => Ok(([(DATA_TYPE_HEADER, "directory")], Body::empty()).into_response()),
        None => Err(not_found(&path)),
    }
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, DataError> {
    let path = parsed(&path, &caller)?;
    let data = data(&state);
    let page_size = query
        .get("limit")
        .and_then(|limit| limit.parse::<usize>().ok())
        .filter(|limit| *limit > 0)
        .map_or(data.page_size, |limit| limit.min(data.page_size));
    let marker = query.get("marker").cloned();
    let with_acl = query.get("acl").is_some_and(|value| value == "true");
    let shown = path.to_string();
    enum Found {
        File(Bytes),
        Dir(Vec<Listed>, Option<Acl>),
    }
    let found = blocking(move || match data.stat(&caller, &path)? {
        Some(Entry::File { .. }) => data.read(&caller, &path).map(Found::File),
        None if !path.is_root() => Err(not_found(&path)),
        _ => {
            let acl = if with_acl {
                data.acl(&caller, &path)?
            } else {
                None
            };
            Ok(Found::Dir(data.list(&caller, &path)?, acl))
        }
    })
    .await?;
    match found {
        Found::File(bytes) => {
            let content_type = file_content_type(&headers);
            Ok((
                [
                    (header::CONTENT_TYPE, content_type),
                    (
                        header::HeaderName::from_static(DATA_TYPE_HEADER),
                        HeaderValue::from_static("file"),
                    ),
                ],
                bytes,
            )
                .into_response())
        }
        Found::Dir(entries, acl) => {
            let mut page = listing_page(&entries, marker.as_deref(), page_size)
                .map_err(|bad| DataError::BadRequest(format!("{shown}: {bad}")))?;
            if let Some(acl) = acl {
                page["acl"] = json!(acl);
            }
            let mut response = protocol::json_response(StatusCode::OK, &page);
            response.headers_mut().insert(
                header::HeaderName::from_static(DATA_TYPE_HEADER),
                HeaderValue::from_static("directory"),
            );
            Ok(response)
        }
    }
}

/// The type a file is sent as: what the caller accepts among text and JSON (the Node
/// client decodes by it), else bytes.
fn file_content_type(headers: &HeaderMap) -> HeaderValue {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if accept.starts_with("text/plain") {
        HeaderValue::from_static("text/plain; charset=utf-8")
    } else if accept.starts_with(mime::JSON) {
        HeaderValue::from_static(mime::JSON)
    } else {
        HeaderValue::from_static(mime::BINARY)
    }
}

/// One page of a listing. Entries are ordered folders first, then files, each by name;
/// the marker is the last entry's key. A page never mixes folders and files: the Node
/// client 0.3.10 indexes `files` by its offset across both arrays.
pub fn listing_page(
    entries: &[Listed],
    marker: Option<&str>,
    page_size: usize,
) -> Result<Value, String> {
    let key = |listed: &Listed| match listed.entry {
        Entry::Dir => format!("d/{}", listed.name),
        Entry::File { .. } => format!("f/{}", listed.name),
    };
    let mut ordered: Vec<(String, &Listed)> = entries.iter().map(|e| (key(e), e)).collect();
    ordered.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(marker) = marker
        && !(marker.starts_with("d/") || marker.starts_with("f/"))
    {
        return Err(format!("marker {marker:?} is not one this server gave out"));
    }
    let rest: Vec<&(String, &Listed)> = ordered
        .iter()
        .filter(|(key, _)| marker.is_none_or(|marker| key.as_str() > marker))
        .collect();
    let first_is_dir = rest.first().is_some_and(|(_, e)| e.entry == Entry::Dir);
    let page: Vec<&(String, &Listed)> = rest
        .iter()
        .take(page_size)
        .take_while(|(_, e)| (e.entry == Entry::Dir) == first_is_dir)
        .copied()
        .collect();
    let mut folders = Vec::new();
    let mut files = Vec::new();
    for (_, listed) in &page {
        match listed.entry {
            Entry::Dir => folders.push(json!({"name": listed.name})),
            Entry::File { size, modified } => files.push(json!({
                "filename": listed.name,
                "size": size,
                "last_modified": rfc3339_millis(modified),
            })),
        }
    }
    let mut reply = json!({"folders": folders, "files": files});
    if page.len() < rest.len()
        && let Some((key, _)) = page.last()
    {
        reply["marker"] = json!(key);
    }
    Ok(reply)
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<String>,
    body: Body,
) -> Result<Response, Response> {
    let path = parsed(&path, &caller).map_err(IntoResponse::into_response)?;
    let body = state
        .body
        .read(body)
        .await
        .map_err(IntoResponse::into_response)?;
    let data = data(&state);
    let shown = path.to_string();
    blocking(move || data.write(&caller, &path, body))
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(protocol::json_response(
        StatusCode::OK,
        &json!({"result": shown}),
    ))
}

#[derive(Deserialize)]
struct NewDir {
    name: String,
    #[serde(default)]
    acl: Option<Acl>,
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<String>,
    body: Body,
) -> Result<Response, Response> {
    let parent = parsed(&path, &caller).map_err(IntoResponse::into_response)?;
    let request: NewDir = json_body(
        &state,
        body,
        r#"creating a directory takes the JSON body {"name": NAME, "acl"?: {"read": [...]}}"#,
    )
    .await?;
    let path = parent
        .child(&request.name)
        .map_err(|error| DataError::from(error).into_response())?;
    let data = data(&state);
    let shown = path.to_string();
    blocking(move || data.create_dir(&caller, &path, request.acl))
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(protocol::json_response(
        StatusCode::OK,
        &json!({"result": shown}),
    ))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, DataError> {
    let path = parsed(&path, &caller)?;
    let force = query.get("force").is_some_and(|value| value == "true");
    let data = data(&state);
    let deleted = blocking(move || match data.stat(&caller, &path)? {
        Some(Entry::File { .. }) => data.delete_file(&caller, &path).map(|()| 1),
        Some(Entry::Dir) => data.delete_dir(&caller, &path, force),
        None => Err(not_found(&path)),
    })
    .await?;
    Ok(protocol::json_response(
        StatusCode::OK,
        &json!({"result": {"deleted": deleted}}),
    ))
}

/// The request body read within the server's limits and parsed as `T`; `expected` says
/// what a malformed one should have been.
async fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: Body,
    expected: &str,
) -> Result<T, Response> {
    let body = state
        .body
        .read(body)
        .await
        .map_err(IntoResponse::into_response)?;
    serde_json::from_slice(&body)
        .map_err(|error| DataError::BadRequest(format!("{expected}: {error}")).into_response())
}

#[derive(Deserialize)]
struct AclUpdate {
    acl: Acl,
}

pub async fn patch(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<String>,
    body: Body,
) -> Result<Response, Response> {
    let path = parsed(&path, &caller).map_err(IntoResponse::into_response)?;
    let update: AclUpdate = json_body(
        &state,
        body,
        r#"updating a collection takes the JSON body {"acl": {"read": [...]}}"#,
    )
    .await?;
    let data = data(&state);
    blocking(move || data.set_acl(&caller, &path, update.acl))
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(protocol::json_response(StatusCode::OK, &json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn pages_follow_markers_and_never_mix_kinds() {
        let file = |name: &str| Listed {
            name: name.into(),
            entry: Entry::File {
                size: 1,
                modified: SystemTime::UNIX_EPOCH,
            },
        };
        let dir = |name: &str| Listed {
            name: name.into(),
            entry: Entry::Dir,
        };
        let entries = vec![file("b"), dir("z"), file("a"), file("c"), dir("y")];
        let mut marker: Option<String> = None;
        let mut seen = Vec::new();
        for _ in 0..10 {
            let page = listing_page(&entries, marker.as_deref(), 2).expect("page");
            let folders = page["folders"].as_array().expect("folders").len();
            let files = page["files"].as_array().expect("files").len();
            assert!(folders == 0 || files == 0, "{page}");
            for folder in page["folders"].as_array().expect("folders") {
                seen.push(folder["name"].as_str().expect("name").to_owned());
            }
            for file in page["files"].as_array().expect("files") {
                seen.push(file["filename"].as_str().expect("name").to_owned());
            }
            marker = page["marker"].as_str().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        assert_eq!(seen, ["y", "z", "a", "b", "c"]);
        assert!(listing_page(&entries, Some("../x"), 2).is_err());
    }
}
