//! Saved views and plans: what the admin API's view endpoints do. A view is saved only when its
//! fields pass the domain's checks and every channel it shows and every device it places is one
//! of the organization's; a plan's image is recognised by its bytes.

use fieldline_domain::view::PlanImageInfo;
use fieldline_domain::{ParseError, Timestamp, View, ViewFields, ViewId};

use crate::error::{Error, Result};
use crate::ports::{Devices, Tenant, Views};

/// The fields checked: the domain's rules, then the organization's channels and devices (a
/// channel or device of another organization is as unknown as one that does not exist).
fn check<S: Devices + ?Sized>(store: &S, tenant: &Tenant, fields: &ViewFields) -> Result<()> {
    fields.validate()?;
    for &c in &fields.channels {
        match store.channel(tenant, c) {
            Err(Error::NotFound(_)) => {
                return Err(ParseError {
                    what: "channels",
                    message: format!("channel {c} is not one of the organization's"),
                    offset: None,
                }
                .into())
            }
            other => {
                other?;
            }
        }
    }
    for p in &fields.placements {
        match store.device(tenant, p.device) {
            Err(Error::NotFound(_)) => {
                return Err(ParseError {
                    what: "placements",
                    message: format!("device {} is not one of the organization's", p.device),
                    offset: None,
                }
                .into())
            }
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// Saves a new view.
pub fn create<S: Devices + Views + ?Sized>(
    store: &S,
    tenant: &Tenant,
    fields: &ViewFields,
    now: Timestamp,
) -> Result<View> {
    check(store, tenant, fields)?;
    store.create_view(tenant, fields, now)
}

/// Replaces a view's fields; changing a plan with an image to another kind keeps the image.
pub fn update<S: Devices + Views + ?Sized>(
    store: &S,
    tenant: &Tenant,
    id: ViewId,
    fields: &ViewFields,
    now: Timestamp,
) -> Result<View> {
    store.view(tenant, id)?;
    check(store, tenant, fields)?;
    store.update_view(tenant, id, fields, now)
}

/// Stores a plan's image: the view must be a plan; the bytes must be a PNG or JPEG of at most
/// 2 MiB (`declared`, the request's content type, must agree with them).
pub fn set_image<S: Views + ?Sized>(
    store: &S,
    tenant: &Tenant,
    id: ViewId,
    bytes: &[u8],
    declared: Option<&str>,
    now: Timestamp,
) -> Result<View> {
    let view = store.view(tenant, id)?;
    if view.fields.kind != fieldline_domain::ViewKind::Plan {
        return Err(ParseError {
            what: "image",
            message: format!(
                "view {id} is a {}; only a view of kind plan has an image",
                view.fields.kind.as_str()
            ),
            offset: None,
        }
        .into());
    }
    let info = PlanImageInfo::of(bytes, declared, now)?;
    store.set_view_image(tenant, id, &info, bytes)
}

/// A view's image ([`Error::NotFound`] of the view when there is none).
pub fn image<S: Views + ?Sized>(
    store: &S,
    tenant: &Tenant,
    id: ViewId,
) -> Result<(PlanImageInfo, Vec<u8>)> {
    store.view_image(tenant, id)
}
