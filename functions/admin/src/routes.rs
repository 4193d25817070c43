//! The admin API's routes: one table that builds the router and that the end-to-end tests read
//! (they include this file) to check the OpenAPI document against it. Plain Rust, no Spin types.

/// What a route does; `lib.rs` maps each to its handler with an exhaustive `match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    OpenApi,
    Signup,
    Login,
    Refresh,
    Switch,
    Logout,
    Me,
    GetOrganization,
    UpdateOrganization,
    GetSubscription,
    PutSubscription,
    CreateInvitation,
    ListInvitations,
    RevokeInvitation,
    AcceptInvitation,
    ListMembers,
    UpdateMember,
    RemoveMember,
    CreateDevice,
    ListDevices,
    GetDevice,
    UpdateDevice,
    DeleteDevice,
    CreateSensor,
    ListSensors,
    GetSensor,
    UpdateSensor,
    DeleteSensor,
    CreateChannel,
    ListChannels,
    GetChannel,
    UpdateChannel,
    DeleteChannel,
    CreateToken,
    ListTokens,
    RevokeToken,
    Calculator,
    DiscardedPoints,
    Usage,
    Hourly,
    OperatorListOrganizations,
    OperatorGetSubscription,
    OperatorPutSubscription,
    OperatorExtendSubscription,
    OperatorRenewSubscription,
    ListNotifications,
    ReadNotification,
    DismissNotification,
    ListTopicSubscriptions,
    CreateTopicSubscription,
    DeleteTopicSubscription,
    GetDoNotDisturb,
    PutDoNotDisturb,
    GetNotificationReminder,
    PutNotificationReminder,
    ListViews,
    CreateView,
    GetView,
    UpdateView,
    DeleteView,
    PutViewImage,
    GetViewImage,
    ListIncidents,
    GetIncident,
    ConfirmIncident,
    GetDeviationBroker,
    PutDeviationBroker,
    DeleteDeviationBroker,
    GetDeviceDeviationSettings,
    PutDeviceDeviationSettings,
    GetChannelDeviationSettings,
    PutChannelDeviationSettings,
}

/// `(method, path, op)`; `:name` is a path parameter, as in `spin_sdk::http::Router`.
pub const ROUTES: &[(&str, &str, Op)] = &[
    ("GET", "/api/v1/openapi.json", Op::OpenApi),
    ("POST", "/api/v1/signup", Op::Signup),
    ("POST", "/api/v1/login", Op::Login),
    ("POST", "/api/v1/refresh", Op::Refresh),
    ("POST", "/api/v1/switch", Op::Switch),
    ("POST", "/api/v1/logout", Op::Logout),
    ("GET", "/api/v1/me", Op::Me),
    ("GET", "/api/v1/organization", Op::GetOrganization),
    ("PATCH", "/api/v1/organization", Op::UpdateOrganization),
    (
        "GET",
        "/api/v1/organization/subscription",
        Op::GetSubscription,
    ),
    (
        "PUT",
        "/api/v1/organization/subscription",
        Op::PutSubscription,
    ),
    ("POST", "/api/v1/invitations", Op::CreateInvitation),
    ("GET", "/api/v1/invitations", Op::ListInvitations),
    ("DELETE", "/api/v1/invitations/:id", Op::RevokeInvitation),
    ("POST", "/api/v1/invitations/accept", Op::AcceptInvitation),
    ("GET", "/api/v1/members", Op::ListMembers),
    ("PATCH", "/api/v1/members/:user_id", Op::UpdateMember),
    ("DELETE", "/api/v1/members/:user_id", Op::RemoveMember),
    ("POST", "/api/v1/devices", Op::CreateDevice),
    ("GET", "/api/v1/devices", Op::ListDevices),
    ("GET", "/api/v1/devices/:id", Op::GetDevice),
    ("PATCH", "/api/v1/devices/:id", Op::UpdateDevice),
    ("DELETE", "/api/v1/devices/:id", Op::DeleteDevice),
    ("POST", "/api/v1/devices/:id/sensors", Op::CreateSensor),
    ("GET", "/api/v1/devices/:id/sensors", Op::ListSensors),
    ("GET", "/api/v1/sensors/:id", Op::GetSensor),
    ("PATCH", "/api/v1/sensors/:id", Op::UpdateSensor),
    ("DELETE", "/api/v1/sensors/:id", Op::DeleteSensor),
    ("POST", "/api/v1/sensors/:id/channels", Op::CreateChannel),
    ("GET", "/api/v1/sensors/:id/channels", Op::ListChannels),
    ("GET", "/api/v1/channels/:id", Op::GetChannel),
    ("PATCH", "/api/v1/channels/:id", Op::UpdateChannel),
    ("DELETE", "/api/v1/channels/:id", Op::DeleteChannel),
    ("POST", "/api/v1/tokens", Op::CreateToken),
    ("GET", "/api/v1/tokens", Op::ListTokens),
    ("DELETE", "/api/v1/tokens/:id", Op::RevokeToken),
    ("POST", "/api/v1/subscription/calculator", Op::Calculator),
    (
        "GET",
        "/api/v1/organization/discarded-points",
        Op::DiscardedPoints,
    ),
    ("GET", "/api/v1/organization/usage", Op::Usage),
    ("GET", "/api/v1/channels/:id/hourly", Op::Hourly),
    (
        "GET",
        "/api/v1/operator/organizations",
        Op::OperatorListOrganizations,
    ),
    (
        "GET",
        "/api/v1/operator/organizations/:id/subscription",
        Op::OperatorGetSubscription,
    ),
    (
        "PUT",
        "/api/v1/operator/organizations/:id/subscription",
        Op::OperatorPutSubscription,
    ),
    (
        "PATCH",
        "/api/v1/operator/organizations/:id/subscription",
        Op::OperatorExtendSubscription,
    ),
    (
        "POST",
        "/api/v1/operator/organizations/:id/subscription/renewal",
        Op::OperatorRenewSubscription,
    ),
    ("GET", "/api/v1/notifications", Op::ListNotifications),
    (
        "POST",
        "/api/v1/notifications/:id/read",
        Op::ReadNotification,
    ),
    (
        "DELETE",
        "/api/v1/notifications/:id",
        Op::DismissNotification,
    ),
    (
        "GET",
        "/api/v1/notification-subscriptions",
        Op::ListTopicSubscriptions,
    ),
    (
        "POST",
        "/api/v1/notification-subscriptions",
        Op::CreateTopicSubscription,
    ),
    (
        "DELETE",
        "/api/v1/notification-subscriptions/:id",
        Op::DeleteTopicSubscription,
    ),
    (
        "GET",
        "/api/v1/notification-settings/do-not-disturb",
        Op::GetDoNotDisturb,
    ),
    (
        "PUT",
        "/api/v1/notification-settings/do-not-disturb",
        Op::PutDoNotDisturb,
    ),
    (
        "GET",
        "/api/v1/devices/:id/notification-reminder",
        Op::GetNotificationReminder,
    ),
    (
        "PUT",
        "/api/v1/devices/:id/notification-reminder",
        Op::PutNotificationReminder,
    ),
    ("GET", "/api/v1/views", Op::ListViews),
    ("POST", "/api/v1/views", Op::CreateView),
    ("GET", "/api/v1/views/:id", Op::GetView),
    ("PATCH", "/api/v1/views/:id", Op::UpdateView),
    ("DELETE", "/api/v1/views/:id", Op::DeleteView),
    ("PUT", "/api/v1/views/:id/image", Op::PutViewImage),
    ("GET", "/api/v1/views/:id/image", Op::GetViewImage),
    ("GET", "/api/v1/incidents", Op::ListIncidents),
    ("GET", "/api/v1/incidents/:id", Op::GetIncident),
    ("POST", "/api/v1/incidents/:id/confirm", Op::ConfirmIncident),
    (
        "GET",
        "/api/v1/organization/deviation-broker",
        Op::GetDeviationBroker,
    ),
    (
        "PUT",
        "/api/v1/organization/deviation-broker",
        Op::PutDeviationBroker,
    ),
    (
        "DELETE",
        "/api/v1/organization/deviation-broker",
        Op::DeleteDeviationBroker,
    ),
    (
        "GET",
        "/api/v1/devices/:id/deviation-settings",
        Op::GetDeviceDeviationSettings,
    ),
    (
        "PUT",
        "/api/v1/devices/:id/deviation-settings",
        Op::PutDeviceDeviationSettings,
    ),
    (
        "GET",
        "/api/v1/channels/:id/deviation-settings",
        Op::GetChannelDeviationSettings,
    ),
    (
        "PUT",
        "/api/v1/channels/:id/deviation-settings",
        Op::PutChannelDeviationSettings,
    ),
];

/// Whether `path` matches the route pattern `pattern` (`:name` matches one segment).
pub fn matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('/');
    let mut s = path.split('/');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with(':') && !b.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_segments() {
        assert!(matches("/api/v1/devices/:id", "/api/v1/devices/abc"));
        assert!(!matches("/api/v1/devices/:id", "/api/v1/devices/"));
        assert!(!matches("/api/v1/devices/:id", "/api/v1/devices/a/b"));
        assert!(!matches("/api/v1/devices", "/api/v1/devices/a"));
        assert!(matches("/api/v1/me", "/api/v1/me"));
    }

    #[test]
    fn routes_are_unique_and_under_api_v1() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(p.starts_with("/api/v1/"), "{p}");
            assert!(
                !ROUTES[i + 1..].iter().any(|(m2, p2, _)| m == m2 && p == p2),
                "{m} {p} twice"
            );
        }
    }
}
