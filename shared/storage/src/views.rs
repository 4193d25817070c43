//! Saved views and plan images ([`fieldline_service::ports::Views`]; schema, "Saved views and
//! plans"). A view's channels, settings and placements are one JSON column, written from and
//! read back into the domain's `ViewFields`; an image's bytes are a BLOB beside its view.

use fieldline_domain::view::{ImageType, PlanImageInfo};
use fieldline_domain::{Timestamp, View, ViewFields, ViewId, ViewKind, ViewName};
use fieldline_service::ports::Views;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::db::{transaction, Db, Row};
use crate::error::{Entity, Error, Result};
use crate::orgs::Tenant;
use crate::store::SqlStore;

/// What the `body` column holds.
#[derive(Serialize, Deserialize)]
struct Body {
    channels: Vec<fieldline_domain::ChannelId>,
    settings: Json,
    placements: Vec<fieldline_domain::view::Placement>,
}

fn body_json(fields: &ViewFields) -> Result<String> {
    serde_json::to_string(&Body {
        channels: fields.channels.clone(),
        settings: fields.settings.clone(),
        placements: fields.placements.clone(),
    })
    .map_err(|e| Error::Corrupt(format!("view body: {e}")))
}

const SELECT: &str = "SELECT v.id, v.name, v.kind, v.body, v.created_at, v.updated_at, \
     i.content_type, i.width, i.height, length(i.bytes), i.sha256, i.updated_at \
     FROM views v LEFT JOIN view_images i ON i.view_key = v.key";

fn view_from(r: &Row<'_>) -> Result<View> {
    let body: Body =
        serde_json::from_str(r.text(3)?).map_err(|e| Error::Corrupt(format!("view body: {e}")))?;
    Ok(View {
        id: r.parse(0, ViewId::parse)?,
        fields: ViewFields {
            name: r.parse(1, ViewName::parse)?,
            kind: r.parse(2, ViewKind::parse)?,
            channels: body.channels,
            settings: body.settings,
            placements: body.placements,
        },
        image: image_from(r, 6)?,
        created_at: r.ts(4)?,
        updated_at: r.ts(5)?,
    })
}

/// The image columns from `at` on (content type, width, height, size, sha256, updated at).
fn image_from(r: &Row<'_>, at: usize) -> Result<Option<PlanImageInfo>> {
    let Some(image_type) = r.opt_parse(at, ImageType::parse)? else {
        return Ok(None);
    };
    Ok(Some(PlanImageInfo {
        image_type,
        width: r.u32(at + 1)?,
        height: r.u32(at + 2)?,
        bytes: r.u64(at + 3)?,
        sha256: r.text(at + 4)?.to_owned(),
        updated_at: r.ts(at + 5)?,
    }))
}

pub fn list_views(db: &dyn Db, tenant: &Tenant) -> Result<Vec<View>> {
    db.execute(
        &format!("{SELECT} WHERE v.org_key = ? ORDER BY v.key"),
        &[tenant.key.into()],
    )?
    .iter()
    .map(|r| view_from(&r))
    .collect()
}

pub fn view(db: &dyn Db, tenant: &Tenant, id: ViewId) -> Result<View> {
    let rows = db.execute(
        &format!("{SELECT} WHERE v.org_key = ? AND v.id = ?"),
        &[tenant.key.into(), id.into()],
    )?;
    view_from(&rows.first().ok_or(Error::NotFound(Entity::View))?)
}

pub fn create_view(
    db: &dyn Db,
    tenant: &Tenant,
    fields: &ViewFields,
    now: Timestamp,
) -> Result<View> {
    let id = ViewId::generate()?;
    db.execute(
        "INSERT INTO views (org_key, id, name, kind, body, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            tenant.key.into(),
            id.into(),
            fields.name.as_str().into(),
            fields.kind.as_str().into(),
            body_json(fields)?.into(),
            now.into(),
            now.into(),
        ],
    )?;
    Ok(View {
        id,
        fields: fields.clone(),
        image: None,
        created_at: now,
        updated_at: now,
    })
}

pub fn update_view(
    db: &dyn Db,
    tenant: &Tenant,
    id: ViewId,
    fields: &ViewFields,
    now: Timestamp,
) -> Result<View> {
    let rows = db.execute(
        "UPDATE views SET name = ?, kind = ?, body = ?, updated_at = ? \
         WHERE org_key = ? AND id = ? RETURNING key",
        &[
            fields.name.as_str().into(),
            fields.kind.as_str().into(),
            body_json(fields)?.into(),
            now.into(),
            tenant.key.into(),
            id.into(),
        ],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::View));
    }
    view(db, tenant, id)
}

fn view_key(db: &dyn Db, tenant: &Tenant, id: ViewId) -> Result<i64> {
    db.execute(
        "SELECT key FROM views WHERE org_key = ? AND id = ?",
        &[tenant.key.into(), id.into()],
    )?
    .first()
    .ok_or(Error::NotFound(Entity::View))?
    .i64(0)
}

pub fn delete_view(db: &dyn Db, tenant: &Tenant, id: ViewId) -> Result<()> {
    transaction(db, |db| {
        let key = view_key(db, tenant, id)?;
        db.execute("DELETE FROM view_images WHERE view_key = ?", &[key.into()])?;
        db.execute("DELETE FROM views WHERE key = ?", &[key.into()])?;
        Ok(())
    })
}

pub fn set_view_image(
    db: &dyn Db,
    tenant: &Tenant,
    id: ViewId,
    info: &PlanImageInfo,
    bytes: &[u8],
) -> Result<View> {
    transaction(db, |db| {
        let key = view_key(db, tenant, id)?;
        db.execute(
            "INSERT INTO view_images \
             (view_key, org_key, content_type, width, height, sha256, bytes, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (view_key) DO UPDATE SET \
             content_type = excluded.content_type, width = excluded.width, \
             height = excluded.height, sha256 = excluded.sha256, bytes = excluded.bytes, \
             updated_at = excluded.updated_at",
            &[
                key.into(),
                tenant.key.into(),
                info.image_type.content_type().into(),
                info.width.into(),
                info.height.into(),
                info.sha256.as_str().into(),
                bytes.into(),
                info.updated_at.into(),
            ],
        )?;
        db.execute(
            "UPDATE views SET updated_at = ? WHERE key = ?",
            &[info.updated_at.into(), key.into()],
        )?;
        view(db, tenant, id)
    })
}

pub fn view_image(db: &dyn Db, tenant: &Tenant, id: ViewId) -> Result<(PlanImageInfo, Vec<u8>)> {
    let rows = db.execute(
        "SELECT i.content_type, i.width, i.height, length(i.bytes), i.sha256, i.updated_at, \
         i.bytes FROM views v JOIN view_images i ON i.view_key = v.key \
         WHERE v.org_key = ? AND v.id = ?",
        &[tenant.key.into(), id.into()],
    )?;
    let Some(r) = rows.first() else {
        // No such view, or a view without an image: both are "no image here".
        return Err(Error::NotFound(Entity::View));
    };
    let info = image_from(&r, 0)?.ok_or(Error::NotFound(Entity::View))?;
    Ok((info, r.blob(6)?.to_vec()))
}

impl<D: Db> Views for SqlStore<D> {
    fn list_views(&self, tenant: &Tenant) -> Result<Vec<View>> {
        list_views(&self.0, tenant)
    }

    fn view(&self, tenant: &Tenant, id: ViewId) -> Result<View> {
        view(&self.0, tenant, id)
    }

    fn create_view(&self, tenant: &Tenant, fields: &ViewFields, now: Timestamp) -> Result<View> {
        create_view(&self.0, tenant, fields, now)
    }

    fn update_view(
        &self,
        tenant: &Tenant,
        id: ViewId,
        fields: &ViewFields,
        now: Timestamp,
    ) -> Result<View> {
        update_view(&self.0, tenant, id, fields, now)
    }

    fn delete_view(&self, tenant: &Tenant, id: ViewId) -> Result<()> {
        delete_view(&self.0, tenant, id)
    }

    fn set_view_image(
        &self,
        tenant: &Tenant,
        id: ViewId,
        info: &PlanImageInfo,
        bytes: &[u8],
    ) -> Result<View> {
        set_view_image(&self.0, tenant, id, info, bytes)
    }

    fn view_image(&self, tenant: &Tenant, id: ViewId) -> Result<(PlanImageInfo, Vec<u8>)> {
        view_image(&self.0, tenant, id)
    }
}

#[cfg(test)]
mod tests {
    use fieldline_domain::view::Placement;
    use fieldline_domain::{ChannelFields, CommunicationId, DeviceFields, Name, SensorFields};
    use fieldline_service::views;
    use serde_json::json;

    use super::*;
    use crate::tests::{db, now, org};
    use crate::{create_channel, create_device, create_sensor};

    /// An organization with one device and one channel.
    fn structure(
        db: &crate::testdb::TestDb,
        name: &str,
    ) -> (
        Tenant,
        fieldline_domain::DeviceId,
        fieldline_domain::ChannelId,
    ) {
        let t = org(db, name, &format!("admin@{name}.example")).0;
        let d = create_device(
            db,
            &t,
            &DeviceFields::named(Name::parse("Boiler").unwrap()),
            None,
            now(),
        )
        .unwrap();
        let s = create_sensor(
            db,
            &t,
            d.id,
            &SensorFields::named(Name::parse("T").unwrap()),
            now(),
        )
        .unwrap();
        let c = create_channel(
            db,
            &t,
            s.id,
            Some(CommunicationId::parse("temp").unwrap()),
            &ChannelFields::named(Name::parse("Temp").unwrap()),
            now(),
        )
        .unwrap();
        (t, d.id, c.id)
    }

    fn plan(device: fieldline_domain::DeviceId) -> ViewFields {
        ViewFields {
            name: ViewName::parse("Floor 1").unwrap(),
            kind: ViewKind::Plan,
            channels: vec![],
            settings: json!({"interval": 60}),
            placements: vec![Placement {
                device,
                x: 0.25,
                y: 0.75,
            }],
        }
    }

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        0, 4, 0, 0, 0, 3, 8, 6, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn views_are_saved_read_back_changed_and_deleted_per_organization() {
        let store = SqlStore(db());
        let (a, device, channel) = structure(&store.0, "alpha");
        let (b, _, other_channel) = structure(&store.0, "beta");

        let mut chart = plan(device);
        chart.kind = ViewKind::StaticChart;
        chart.placements.clear();
        chart.channels = vec![channel];
        let saved = views::create(&store, &a, &chart, now()).unwrap();
        assert_eq!(store.view(&a, saved.id).unwrap().fields, chart);
        let floor = views::create(&store, &a, &plan(device), now()).unwrap();
        let listed: Vec<ViewId> = store.list_views(&a).unwrap().iter().map(|v| v.id).collect();
        assert_eq!(listed, [saved.id, floor.id]);

        // Another organization sees none of them, and cannot change or delete them.
        assert!(store.list_views(&b).unwrap().is_empty());
        assert!(matches!(
            store.view(&b, saved.id),
            Err(Error::NotFound(Entity::View))
        ));
        assert!(matches!(
            views::update(&store, &b, saved.id, &chart, now()),
            Err(Error::NotFound(Entity::View))
        ));
        assert!(matches!(
            store.delete_view(&b, saved.id),
            Err(Error::NotFound(Entity::View))
        ));
        // Nor can a view show another organization's channel or place its device.
        let mut foreign = chart.clone();
        foreign.channels = vec![other_channel];
        let err = views::create(&store, &a, &foreign, now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not one of the organization's"), "{err}");

        let mut renamed = chart.clone();
        renamed.name = ViewName::parse("Boiler, last week").unwrap();
        let later = Timestamp::from_secs(1_700_000_100).unwrap();
        let changed = views::update(&store, &a, saved.id, &renamed, later).unwrap();
        assert_eq!(changed.fields.name.as_str(), "Boiler, last week");
        assert_eq!((changed.created_at, changed.updated_at), (now(), later));

        store.delete_view(&a, saved.id).unwrap();
        assert_eq!(store.list_views(&a).unwrap().len(), 1);
        assert!(matches!(
            store.view(&a, saved.id),
            Err(Error::NotFound(Entity::View))
        ));
    }

    #[test]
    fn a_plan_keeps_its_image_until_it_is_deleted() {
        let store = SqlStore(db());
        let (a, device, _) = structure(&store.0, "alpha");
        let (b, _, _) = structure(&store.0, "beta");
        let floor = views::create(&store, &a, &plan(device), now()).unwrap();
        assert!(matches!(
            views::image(&store, &a, floor.id),
            Err(Error::NotFound(Entity::View))
        ));

        let with = views::set_image(&store, &a, floor.id, PNG, Some("image/png"), now()).unwrap();
        let info = with.image.clone().unwrap();
        assert_eq!(
            (info.width, info.height, info.bytes),
            (4, 3, PNG.len() as u64)
        );
        let (got, bytes) = views::image(&store, &a, floor.id).unwrap();
        assert_eq!((got, bytes.as_slice()), (info, PNG));
        assert!(matches!(
            views::image(&store, &b, floor.id),
            Err(Error::NotFound(Entity::View))
        ));
        // Changing the placements keeps the image.
        let mut moved = plan(device);
        moved.placements[0].x = 0.5;
        let after = views::update(&store, &a, floor.id, &moved, now()).unwrap();
        assert_eq!(after.fields.placements[0].x, 0.5);
        assert!(after.image.is_some());

        // Only a plan has an image; an SVG is refused.
        let mut chart = plan(device);
        chart.kind = ViewKind::Map;
        chart.placements.clear();
        let map = views::create(&store, &a, &chart, now()).unwrap();
        let err = views::set_image(&store, &a, map.id, PNG, None, now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("only a view of kind plan"), "{err}");
        let err = views::set_image(&store, &a, floor.id, b"<svg></svg>", None, now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("SVG"), "{err}");

        store.delete_view(&a, floor.id).unwrap();
        let left = Db::execute(&store.0, "SELECT count(*) FROM view_images", &[]).unwrap();
        assert_eq!(left.first().unwrap().i64(0).unwrap(), 0);
    }
}
