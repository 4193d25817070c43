//! Views (Sensorbis "Data visualization"): an organization's saved ways of showing its data: a
//! static chart, a real-time chart, a map, or a user-provided plan or image with devices placed
//! on it. A view names the channels it shows and keeps the console's settings for it; a plan
//! also keeps where each device is on its image (fractions of the image's width and height).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ParseError;
use crate::ids::{ChannelId, DeviceId, ViewId};
use crate::text::ViewName;
use crate::time::Timestamp;

/// At most this many channels in a view (Sensorbis sets no number; a chart of more is not read).
pub const MAX_VIEW_CHANNELS: usize = 200;
/// At most this many devices placed on a plan.
pub const MAX_PLACEMENTS: usize = 500;
/// The settings object, serialized, is at most this many bytes.
pub const MAX_SETTINGS_BYTES: usize = 8 * 1024;
/// A plan image is at most this many bytes (2 MiB).
pub const MAX_PLAN_IMAGE_BYTES: usize = 2 * 1024 * 1024;
/// And at most this many pixels on a side.
pub const MAX_PLAN_IMAGE_SIDE: usize = 16_384;

/// The four kinds of view of the Sensorbis help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum ViewKind {
    StaticChart,
    RealtimeChart,
    Map,
    Plan,
}

impl ViewKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewKind::StaticChart => "static_chart",
            ViewKind::RealtimeChart => "realtime_chart",
            ViewKind::Map => "map",
            ViewKind::Plan => "plan",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "static_chart" => Ok(ViewKind::StaticChart),
            "realtime_chart" => Ok(ViewKind::RealtimeChart),
            "map" => Ok(ViewKind::Map),
            "plan" => Ok(ViewKind::Plan),
            other => Err(ParseError::new(
                "kind",
                format!("{other:?} is not one of static_chart, realtime_chart, map, plan"),
            )),
        }
    }
}

impl TryFrom<String> for ViewKind {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        ViewKind::parse(&s)
    }
}

/// Where a device is on a plan: `x` from the left edge, `y` from the top, as fractions 0–1 of
/// the image's width and height (so the placement survives any display size).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub device: DeviceId,
    pub x: f64,
    pub y: f64,
}

/// What a client sets on a view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewFields {
    pub name: ViewName,
    pub kind: ViewKind,
    /// The channels the view shows, in order.
    #[serde(default)]
    pub channels: Vec<ChannelId>,
    /// The console's settings of the view (grouping, period, refresh interval, tile URL...):
    /// a JSON object kept as given.
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// Plans only: the devices placed on the image, one placement per device.
    #[serde(default)]
    pub placements: Vec<Placement>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl ViewFields {
    /// Checks what serde cannot: the limits, the settings being an object, the placements'
    /// range and uniqueness, and placements on plans only.
    pub fn validate(&self) -> Result<(), ParseError> {
        if self.channels.len() > MAX_VIEW_CHANNELS {
            return Err(ParseError::new(
                "channels",
                format!(
                    "{} channels; a view has at most {MAX_VIEW_CHANNELS}",
                    self.channels.len()
                ),
            ));
        }
        if let Some((i, c)) = self
            .channels
            .iter()
            .enumerate()
            .find(|(i, c)| self.channels[..*i].contains(c))
        {
            return Err(ParseError::new(
                "channels",
                format!("channel {c} is listed twice (at {i})"),
            ));
        }
        if !self.settings.is_object() {
            return Err(ParseError::new("settings", "must be a JSON object"));
        }
        let size = self.settings.to_string().len();
        if size > MAX_SETTINGS_BYTES {
            return Err(ParseError::new(
                "settings",
                format!("{size} bytes of JSON; at most {MAX_SETTINGS_BYTES}"),
            ));
        }
        if !self.placements.is_empty() && self.kind != ViewKind::Plan {
            return Err(ParseError::new(
                "placements",
                "only a view of kind plan places devices",
            ));
        }
        if self.placements.len() > MAX_PLACEMENTS {
            return Err(ParseError::new(
                "placements",
                format!("at most {MAX_PLACEMENTS} devices on a plan"),
            ));
        }
        for (i, p) in self.placements.iter().enumerate() {
            if !(0.0..=1.0).contains(&p.x) || !(0.0..=1.0).contains(&p.y) {
                return Err(ParseError::new(
                    "placements",
                    format!(
                        "device {}: x and y are fractions of the image, from 0 to 1 (got {}, {})",
                        p.device, p.x, p.y
                    ),
                ));
            }
            if self.placements[..i].iter().any(|q| q.device == p.device) {
                return Err(ParseError::new(
                    "placements",
                    format!("device {} is placed twice", p.device),
                ));
            }
        }
        Ok(())
    }
}

/// The image types a plan may have. SVG is refused: it can carry scripts and external
/// references, and a raster image can show any plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageType {
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/jpeg")]
    Jpeg,
}

impl ImageType {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "image/png" => Ok(ImageType::Png),
            "image/jpeg" => Ok(ImageType::Jpeg),
            other => Err(ParseError::new(
                "image",
                format!("stored type {other:?} is not image/png or image/jpeg"),
            )),
        }
    }
}

/// A plan image as it is stored: its type and size read from its own bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanImageInfo {
    #[serde(rename = "contentType")]
    pub image_type: ImageType,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// The SHA-256 of the bytes, hex: the image's strong ETag.
    pub sha256: String,
    pub updated_at: Timestamp,
}

/// Recognises an uploaded plan image by its bytes: a PNG or JPEG whose header gives its size,
/// at most [`MAX_PLAN_IMAGE_BYTES`] and [`MAX_PLAN_IMAGE_SIDE`] pixels a side. `declared` is the
/// request's content type: when given it must agree with the bytes.
pub fn sniff_plan_image(
    bytes: &[u8],
    declared: Option<&str>,
) -> Result<(ImageType, u32, u32), ParseError> {
    const WHAT: &str = "image";
    if bytes.is_empty() {
        return Err(ParseError::new(
            WHAT,
            "the body is empty; send the image's bytes",
        ));
    }
    if bytes.len() > MAX_PLAN_IMAGE_BYTES {
        return Err(ParseError::new(
            WHAT,
            format!(
                "{} bytes; a plan image has at most {MAX_PLAN_IMAGE_BYTES}",
                bytes.len()
            ),
        ));
    }
    let found = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Png) => ImageType::Png,
        Ok(imagesize::ImageType::Jpeg) => ImageType::Jpeg,
        _ => {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_lowercase();
            let why = if head.contains("<svg") || head.contains("<?xml") {
                "SVG is not accepted (it can carry scripts); export the plan as PNG or JPEG"
            } else {
                "the bytes are not a PNG or JPEG image"
            };
            return Err(ParseError::new(WHAT, why));
        }
    };
    if let Some(declared) = declared {
        let essence = declared
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != found.content_type() && essence != "application/octet-stream" {
            return Err(ParseError::new(
                WHAT,
                format!(
                    "Content-Type says {essence:?} but the bytes are {}",
                    found.content_type()
                ),
            ));
        }
    }
    let size = imagesize::blob_size(bytes)
        .map_err(|e| ParseError::new(WHAT, format!("the image's header cannot be read: {e}")))?;
    if size.width == 0
        || size.height == 0
        || size.width > MAX_PLAN_IMAGE_SIDE
        || size.height > MAX_PLAN_IMAGE_SIDE
    {
        return Err(ParseError::new(
            WHAT,
            format!(
                "{}×{} pixels; a plan image has 1 to {MAX_PLAN_IMAGE_SIDE} pixels a side",
                size.width, size.height
            ),
        ));
    }
    let side = |n: usize| u32::try_from(n).map_err(|_| ParseError::new(WHAT, "too large"));
    Ok((found, side(size.width)?, side(size.height)?))
}

impl PlanImageInfo {
    /// An uploaded image checked by [`sniff_plan_image`], described for storing.
    pub fn of(bytes: &[u8], declared: Option<&str>, now: Timestamp) -> Result<Self, ParseError> {
        use sha2::Digest;
        let (image_type, width, height) = sniff_plan_image(bytes, declared)?;
        Ok(PlanImageInfo {
            image_type,
            width,
            height,
            bytes: bytes.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(bytes)),
            updated_at: now,
        })
    }
}

/// A saved view.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    pub id: ViewId,
    #[serde(flatten)]
    pub fields: ViewFields,
    /// A plan's image, once one is uploaded.
    pub image: Option<PlanImageInfo>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_1X1: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0, 0, 0, 0, 0,
    ];

    fn fields(json: &str) -> Result<ViewFields, String> {
        let f: ViewFields = serde_json::from_str(json).map_err(|e| e.to_string())?;
        f.validate().map_err(|e| e.to_string())?;
        Ok(f)
    }

    #[test]
    fn a_view_needs_a_name_and_a_known_kind() {
        let f = fields(r#"{"name":"Boiler","kind":"static_chart"}"#).unwrap();
        assert_eq!(f.kind, ViewKind::StaticChart);
        assert!(f.channels.is_empty());
        assert_eq!(f.settings, serde_json::json!({}));
        assert!(fields(r#"{"name":"","kind":"map"}"#)
            .unwrap_err()
            .contains("view name"));
        assert!(fields(r#"{"name":"x","kind":"pie"}"#).is_err());
        assert!(fields(r#"{"name":"x","kind":"map","colour":1}"#).is_err());
        assert!(fields(r#"{"name":"x","kind":"map","settings":[1]}"#)
            .unwrap_err()
            .contains("settings"));
        let big = format!(
            r#"{{"name":"x","kind":"map","settings":{{"a":"{}"}}}}"#,
            "y".repeat(MAX_SETTINGS_BYTES)
        );
        assert!(fields(&big).unwrap_err().contains("bytes of JSON"));
    }

    #[test]
    fn placements_are_fractions_once_per_device_on_plans_only() {
        let ok = r#"{"name":"Floor 1","kind":"plan","placements":[{"device":"aaaaaaaaaaaaa","x":0.25,"y":1}]}"#;
        assert_eq!(fields(ok).unwrap().placements[0].x, 0.25);
        let outside = ok.replace("0.25", "1.5");
        assert!(fields(&outside).unwrap_err().contains("from 0 to 1"));
        let on_map = ok.replace("\"plan\"", "\"map\"");
        assert!(fields(&on_map)
            .unwrap_err()
            .contains("only a view of kind plan"));
        let twice = r#"{"name":"F","kind":"plan","placements":[{"device":"aaaaaaaaaaaaa","x":0,"y":0},{"device":"aaaaaaaaaaaaa","x":1,"y":1}]}"#;
        assert!(fields(twice).unwrap_err().contains("placed twice"));
        let dup = r#"{"name":"F","kind":"map","channels":["aaaaaaaaaaaaa","aaaaaaaaaaaaa"]}"#;
        assert!(fields(dup).unwrap_err().contains("twice"));
    }

    #[test]
    fn plan_images_are_recognised_by_their_bytes() {
        assert_eq!(
            sniff_plan_image(PNG_1X1, Some("image/png")).unwrap(),
            (ImageType::Png, 3, 2)
        );
        assert_eq!(sniff_plan_image(PNG_1X1, None).unwrap().0, ImageType::Png);
        // The declared type must agree with the bytes.
        assert!(sniff_plan_image(PNG_1X1, Some("image/jpeg"))
            .unwrap_err()
            .to_string()
            .contains("Content-Type says"));
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
        assert!(sniff_plan_image(svg, Some("image/png"))
            .unwrap_err()
            .to_string()
            .contains("SVG is not accepted"));
        assert!(sniff_plan_image(b"GIF89a....", None)
            .unwrap_err()
            .to_string()
            .contains("not a PNG or JPEG"));
        assert!(sniff_plan_image(b"", None).is_err());
        let mut huge = PNG_1X1.to_vec();
        huge.resize(MAX_PLAN_IMAGE_BYTES + 1, 0);
        assert!(sniff_plan_image(&huge, None)
            .unwrap_err()
            .to_string()
            .contains("at most"));
        let mut wide = PNG_1X1.to_vec();
        wide[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(sniff_plan_image(&wide, None)
            .unwrap_err()
            .to_string()
            .contains("pixels a side"));
    }
}
