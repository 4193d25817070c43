//! The admin API (`/api/v1/...`): sign-up, login and sessions, the organization and its
//! subscription, invitations and members, devices, sensors and channels, tokens, the in-app
//! notifications of threshold alerts, and saved views with their plan images. JSON in and
//! out, `Authorization: Bearer <access token>`, errors as `{"code": .., "message": ..}`. A thin
//! adapter: validation, permissions, credentials and rate limits are the shared crates'.

mod api;
mod http;
mod routes;

use spin_sdk::http::{Method, Params, Request, Response, Router};
use spin_sdk::http_component;

use crate::http::{ApiError, ApiResult};
use crate::routes::{Op, ROUTES};

/// The OpenAPI 3.1 document of this API; `tests/e2e/admin.rs` checks it against [`ROUTES`].
pub const OPENAPI: &str = include_str!("../openapi.json");

type Handler = fn(&Request, &Params) -> ApiResult;

fn handler(op: Op) -> Handler {
    use api::{auth, deviations, devices, notifications, operator, org, tokens, views};
    match op {
        Op::OpenApi => |_, _| {
            Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(OPENAPI)
                .build())
        },
        Op::Signup => auth::signup,
        Op::Login => auth::login,
        Op::Refresh => auth::refresh,
        Op::Switch => auth::switch,
        Op::Logout => auth::logout,
        Op::Me => auth::me,
        Op::GetOrganization => org::get_organization,
        Op::UpdateOrganization => org::update_organization,
        Op::GetSubscription => org::get_subscription,
        Op::PutSubscription => org::put_subscription,
        Op::CreateInvitation => org::create_invitation,
        Op::ListInvitations => org::list_invitations,
        Op::RevokeInvitation => org::revoke_invitation,
        Op::AcceptInvitation => auth::accept_invitation,
        Op::ListMembers => org::list_members,
        Op::UpdateMember => org::update_member,
        Op::RemoveMember => org::remove_member,
        Op::CreateDevice => devices::create_device,
        Op::ListDevices => devices::list_devices,
        Op::GetDevice => devices::get_device,
        Op::UpdateDevice => devices::update_device,
        Op::DeleteDevice => devices::delete_device,
        Op::CreateSensor => devices::create_sensor,
        Op::ListSensors => devices::list_sensors,
        Op::GetSensor => devices::get_sensor,
        Op::UpdateSensor => devices::update_sensor,
        Op::DeleteSensor => devices::delete_sensor,
        Op::CreateChannel => devices::create_channel,
        Op::ListChannels => devices::list_channels,
        Op::GetChannel => devices::get_channel,
        Op::UpdateChannel => devices::update_channel,
        Op::DeleteChannel => devices::delete_channel,
        Op::CreateToken => tokens::create_token,
        Op::ListTokens => tokens::list_tokens,
        Op::RevokeToken => tokens::revoke_token,
        Op::Calculator => org::calculator,
        Op::DiscardedPoints => org::discarded_points,
        Op::Usage => org::usage,
        Op::Hourly => devices::hourly,
        Op::OperatorListOrganizations => operator::list_organizations,
        Op::OperatorGetSubscription => operator::get_subscription,
        Op::OperatorPutSubscription => operator::put_subscription,
        Op::OperatorExtendSubscription => operator::extend_subscription,
        Op::OperatorRenewSubscription => operator::renew_subscription,
        Op::ListNotifications => notifications::list,
        Op::ReadNotification => notifications::read,
        Op::DismissNotification => notifications::dismiss,
        Op::ListTopicSubscriptions => notifications::list_subscriptions,
        Op::CreateTopicSubscription => notifications::create_subscription,
        Op::DeleteTopicSubscription => notifications::delete_subscription,
        Op::GetDoNotDisturb => notifications::get_quiet_hours,
        Op::PutDoNotDisturb => notifications::put_quiet_hours,
        Op::GetNotificationReminder => notifications::get_reminder,
        Op::PutNotificationReminder => notifications::put_reminder,
        Op::ListViews => views::list,
        Op::CreateView => views::create,
        Op::GetView => views::get,
        Op::UpdateView => views::update,
        Op::DeleteView => views::delete,
        Op::PutViewImage => views::put_image,
        Op::GetViewImage => views::get_image,
        Op::ListIncidents => deviations::list,
        Op::GetIncident => deviations::get,
        Op::ConfirmIncident => deviations::confirm_incident,
        Op::GetDeviationBroker => deviations::get_broker,
        Op::PutDeviationBroker => deviations::put_broker,
        Op::DeleteDeviationBroker => deviations::delete_broker,
        Op::GetDeviceDeviationSettings => deviations::get_device_settings,
        Op::PutDeviceDeviationSettings => deviations::put_device_settings,
        Op::GetChannelDeviationSettings => deviations::get_channel_settings,
        Op::PutChannelDeviationSettings => deviations::put_channel_settings,
    }
}

fn method(m: &str) -> Method {
    match m {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_owned()),
    }
}

#[http_component]
fn handle(req: Request) -> Response {
    let mut router = Router::new();
    for &(m, path, op) in ROUTES {
        let h = handler(op);
        let limit = http::max_body_bytes(op);
        router.add(path, method(m), move |req: Request, params: Params| {
            if req.body().len() > limit {
                return http::too_large(limit).into_response();
            }
            h(&req, &params).unwrap_or_else(ApiError::into_response)
        });
    }
    router.any("/*", unmatched);
    router.handle(req)
}

/// A path of the API with a method it does not take is 405 (with `Allow`); any other path 404.
fn unmatched(req: Request, _params: Params) -> Response {
    let path = req.path();
    let allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, p, _)| routes::matches(p, path))
        .map(|(m, _, _)| *m)
        .collect();
    if allowed.is_empty() {
        return ApiError::new(
            404,
            "route_not_found",
            format!("no route {path}; see GET /api/v1/openapi.json"),
        )
        .into_response();
    }
    let mut resp = ApiError::new(
        405,
        "method_not_allowed",
        format!("{path} takes {}", allowed.join(", ")),
    )
    .into_response();
    resp.set_header("allow", allowed.join(", "));
    resp
}
