//! The management API's operations: one table that dispatches requests, writes the help page
//! and that the end-to-end tests read (they include this file) to check the OpenAPI document
//! against it. Plain Rust, no Spin types.

/// Where the REST endpoint's methods are: `POST {REST}/{Method}`.
pub const REST: &str = "/V0100/Service.svc/rest";
/// The help page (the document's "XSD" address): `GET`.
pub const HELP: &str = "/V0100/Service.svc/rest/help";
/// The OpenAPI 3.1 document of the management API and of the device push: `GET`.
pub const OPENAPI: &str = "/V0100/Service.svc/openapi.json";
/// A device's push `uri` is this followed by the device's id: `POST`.
pub const PUSH: &str = "/V0100/push/";

/// A method of the management API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    GetFederation,
    CreateFederationToken,
    AddDevices,
    GetDevice,
    ModifyDevice,
    DeleteDevice,
    CreateDeviceToken,
    AddSensors,
    ModifySensor,
    DeleteSensor,
    AddChannels,
    ModifyChannel,
    DeleteChannel,
}

/// `(method name, operation, description)`, in the document's order.
pub const OPS: &[(&str, Op, &str)] = &[
    (
        "GetFederation",
        Op::GetFederation,
        "Returns a federation with its devices, sensors and channels. Federation token only.",
    ),
    (
        "CreateFederationToken",
        Op::CreateFederationToken,
        "Returns a new federation token, which replaces the previous one at once. Federation \
         token only.",
    ),
    (
        "AddDevices",
        Op::AddDevices,
        "Adds up to 10 devices (with their sensors and channels) to a federation, all or none.",
    ),
    ("GetDevice", Op::GetDevice, "Returns a device."),
    ("ModifyDevice", Op::ModifyDevice, "Modifies a device."),
    (
        "DeleteDevice",
        Op::DeleteDevice,
        "Deletes a device with its sensors, channels and data.",
    ),
    (
        "CreateDeviceToken",
        Op::CreateDeviceToken,
        "Returns a new device token, which replaces the previous one at once.",
    ),
    (
        "AddSensors",
        Op::AddSensors,
        "Adds up to 10 sensors (with their channels) to a device, all or none.",
    ),
    ("ModifySensor", Op::ModifySensor, "Modifies a sensor."),
    (
        "DeleteSensor",
        Op::DeleteSensor,
        "Deletes a sensor with its channels and data.",
    ),
    (
        "AddChannels",
        Op::AddChannels,
        "Adds up to 10 channels to a sensor, all or none.",
    ),
    ("ModifyChannel", Op::ModifyChannel, "Modifies a channel."),
    (
        "DeleteChannel",
        Op::DeleteChannel,
        "Deletes a channel with its data.",
    ),
];

/// The operation of a method name (case-sensitive, as WCF's UriTemplate matching).
pub fn op(name: &str) -> Option<Op> {
    OPS.iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, op, _)| *op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_unique_methods() {
        assert_eq!(OPS.len(), 13);
        for (i, (n, o, _)) in OPS.iter().enumerate() {
            assert_eq!(op(n), Some(*o));
            assert!(!OPS[i + 1..].iter().any(|(m, _, _)| m == n));
        }
        assert_eq!(op("getfederation"), None);
    }
}
