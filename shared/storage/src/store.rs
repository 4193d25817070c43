//! The SQLite backend of the storage ports ([`fieldline_service::ports`]): each port method is
//! one of this crate's tenant-scoped queries over a [`Db`] (Spin's SQLite in components,
//! rusqlite natively).

use std::collections::HashMap;

use fieldline_domain::alarm::ConditionKey;
use fieldline_domain::deviation::{ChannelSettings, DeviceSettings};
use fieldline_domain::notify::ChannelAlarms;
use fieldline_domain::topics::QuietHours;
use fieldline_domain::{
    query, Channel, ChannelFields, ChannelId, CommunicationId, Device, DeviceFields, DeviceId,
    Email, HourlyRollup, Invitation, InvitationId, Membership, NetworkId, OrgFields, OrgId,
    Organization, PasswordHash, Permissions, Point, Sensor, SensorFields, SensorId, SignupPolicy,
    Subscription, Timestamp, Token, TokenHash, TokenId, TokenKind, TokenSecret, User, UserId, Uuid,
};
use fieldline_domain::{Incident, NewIncident};
use fieldline_service::ports::{
    Accept, AddressToVerify, AlarmSubject, Alarms, Atomic, Authenticated, ChannelRef, Counters,
    Devices, Discarded, NewToken, Notification, Order, Orgs, Outbox, OutboxMessage, PointPage,
    Points, PushDevice, QueuedPoint, Rotated, Sensorbis, Series, SeriesFilter, SeriesInfo, Store,
    Tenant, Tokens, Users,
};
use fieldline_service::ports::{
    DeviationDevice, DeviationState, DeviationSubject, Deviations, IncidentFilter,
    NewTopicSubscription, Reservation, Reserved, StoredBroker, Subscriber, TopicSubscriptionView,
};

use crate::db::{transaction, Db};
use crate::error::Result;
use crate::{
    alarms, conduit, counters, deviations, devices, incidents, orgs, outbox, points, sensorbis,
    series, tokens, topics, users,
};

/// A SQLite database (any [`Db`]: a Spin connection, a rusqlite one) as the ports see it.
pub struct SqlStore<D>(pub D);

impl<D: Db> Orgs for SqlStore<D> {
    fn tenant(&self, id: OrgId) -> Result<Tenant> {
        orgs::tenant(&self.0, id)
    }

    fn all_tenants(&self) -> Result<Vec<(Tenant, Subscription)>> {
        orgs::all_tenants(&self.0)
    }

    fn organizations_exist(&self) -> Result<bool> {
        orgs::organizations_exist(&self.0)
    }

    fn sign_up(
        &self,
        policy: SignupPolicy,
        org: &OrgFields,
        subscription: &Subscription,
        email: &Email,
        password: &PasswordHash,
        now: Timestamp,
    ) -> Result<(Tenant, Organization, User)> {
        orgs::sign_up_under(&self.0, policy, org, subscription, email, password, now)
    }

    fn organization(&self, tenant: &Tenant) -> Result<Organization> {
        orgs::organization(&self.0, tenant)
    }

    fn update_organization(
        &self,
        tenant: &Tenant,
        fields: &OrgFields,
        auto_register: Option<bool>,
    ) -> Result<Organization> {
        transaction(&self.0, |db| {
            let org = orgs::update_organization(db, tenant, fields)?;
            if let Some(on) = auto_register {
                orgs::set_auto_registration(db, tenant, on)?;
            }
            Ok(org)
        })
    }

    fn update_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<Organization> {
        orgs::update_subscription(&self.0, tenant, subscription)
    }

    fn auto_registration(&self, tenant: &Tenant) -> Result<bool> {
        orgs::auto_registration(&self.0, tenant)
    }
}

impl<D: Db> Users for SqlStore<D> {
    fn find_user_by_email(&self, email: &Email) -> Result<Option<(User, PasswordHash)>> {
        users::find_user_by_email(&self.0, email)
    }

    fn user(&self, id: UserId) -> Result<User> {
        users::user(&self.0, id)
    }

    fn memberships_of_user(&self, user: UserId) -> Result<Vec<(Tenant, Membership)>> {
        users::memberships_of_user(&self.0, user)
    }

    fn member(&self, org: OrgId, user: UserId) -> Result<(Tenant, Membership)> {
        users::member(&self.0, org, user)
    }

    fn list_members(&self, tenant: &Tenant) -> Result<Vec<Membership>> {
        users::list_members(&self.0, tenant)
    }

    fn set_permissions(
        &self,
        tenant: &Tenant,
        user: UserId,
        permissions: Permissions,
    ) -> Result<Membership> {
        users::set_permissions(&self.0, tenant, user, permissions)
    }

    fn remove_member(&self, tenant: &Tenant, user: UserId, now: Timestamp) -> Result<()> {
        users::remove_member(&self.0, tenant, user, now)
    }

    fn create_invitation(
        &self,
        tenant: &Tenant,
        email: &Email,
        permissions: Permissions,
        invited_by: Option<UserId>,
        now: Timestamp,
    ) -> Result<(Invitation, TokenSecret)> {
        users::create_invitation(&self.0, tenant, email, permissions, invited_by, now)
    }

    fn list_invitations(&self, tenant: &Tenant) -> Result<Vec<Invitation>> {
        users::list_invitations(&self.0, tenant)
    }

    fn revoke_invitation(&self, tenant: &Tenant, id: InvitationId) -> Result<()> {
        users::revoke_invitation(&self.0, tenant, id)
    }

    fn invitation_by_secret(&self, secret: &TokenSecret) -> Result<(Tenant, Invitation)> {
        users::invitation_by_secret(&self.0, secret)
    }

    fn accept_invitation(
        &self,
        secret: &TokenSecret,
        who: Accept<'_>,
        now: Timestamp,
    ) -> Result<(Tenant, Membership)> {
        users::accept_invitation(&self.0, secret, who, now)
    }
}

impl<D: Db> Devices for SqlStore<D> {
    fn device(&self, tenant: &Tenant, id: DeviceId) -> Result<Device> {
        devices::device(&self.0, tenant, id)
    }

    fn device_by_network_id(&self, tenant: &Tenant, network_id: &NetworkId) -> Result<Device> {
        devices::device_by_network_id(&self.0, tenant, network_id)
    }

    fn devices_by_uuid(&self, tenant: &Tenant, uuids: &[Uuid]) -> Result<Vec<Device>> {
        devices::devices_by_uuid(&self.0, tenant, uuids)
    }

    fn devices_with_channels(
        &self,
        tenant: &Tenant,
        uuids: &[Uuid],
        network_ids: &[NetworkId],
    ) -> Result<Vec<fieldline_service::ports::DeviceChannels>> {
        devices::devices_with_channels(&self.0, tenant, uuids, network_ids)
    }

    fn list_devices(&self, tenant: &Tenant) -> Result<Vec<Device>> {
        devices::list_devices(&self.0, tenant)
    }

    fn create_device(
        &self,
        tenant: &Tenant,
        fields: &DeviceFields,
        uuid: Option<Uuid>,
        now: Timestamp,
    ) -> Result<Device> {
        devices::create_device(&self.0, tenant, fields, uuid, now)
    }

    fn update_device(
        &self,
        tenant: &Tenant,
        id: DeviceId,
        fields: &DeviceFields,
        now: Timestamp,
    ) -> Result<Device> {
        devices::update_device(&self.0, tenant, id, fields, now)
    }

    fn delete_device(&self, tenant: &Tenant, id: DeviceId) -> Result<()> {
        devices::delete_device(&self.0, tenant, id)
    }

    fn list_sensors(&self, tenant: &Tenant, device: DeviceId) -> Result<Vec<Sensor>> {
        devices::list_sensors(&self.0, tenant, device)
    }

    fn create_sensor(
        &self,
        tenant: &Tenant,
        device: DeviceId,
        fields: &SensorFields,
        now: Timestamp,
    ) -> Result<Sensor> {
        devices::create_sensor(&self.0, tenant, device, fields, now)
    }

    fn sensor(&self, tenant: &Tenant, id: SensorId) -> Result<Sensor> {
        devices::sensor(&self.0, tenant, id)
    }

    fn update_sensor(
        &self,
        tenant: &Tenant,
        id: SensorId,
        fields: &SensorFields,
    ) -> Result<Sensor> {
        devices::update_sensor(&self.0, tenant, id, fields)
    }

    fn delete_sensor(&self, tenant: &Tenant, id: SensorId) -> Result<()> {
        devices::delete_sensor(&self.0, tenant, id)
    }

    fn create_channel(
        &self,
        tenant: &Tenant,
        sensor: SensorId,
        communication_id: Option<CommunicationId>,
        fields: &ChannelFields,
        now: Timestamp,
    ) -> Result<Channel> {
        devices::create_channel(&self.0, tenant, sensor, communication_id, fields, now)
    }

    fn channel(&self, tenant: &Tenant, id: ChannelId) -> Result<Channel> {
        devices::channel(&self.0, tenant, id)
    }

    fn list_channels(&self, tenant: &Tenant, sensor: SensorId) -> Result<Vec<Channel>> {
        devices::list_channels(&self.0, tenant, sensor)
    }

    fn update_channel(
        &self,
        tenant: &Tenant,
        id: ChannelId,
        communication_id: Option<CommunicationId>,
        fields: &ChannelFields,
    ) -> Result<Channel> {
        devices::update_channel(&self.0, tenant, id, communication_id, fields)
    }

    fn delete_channel(&self, tenant: &Tenant, id: ChannelId) -> Result<()> {
        devices::delete_channel(&self.0, tenant, id)
    }

    fn channel_refs(
        &self,
        tenant: &Tenant,
        device: &Device,
    ) -> Result<fieldline_service::ports::ChannelRefs> {
        devices::channel_refs_by_key(&self.0, tenant, device.key)
    }

    fn channels_by_key(&self, tenant: &Tenant, keys: &[i64]) -> Result<Vec<Channel>> {
        conduit::channels_by_key(&self.0, tenant, keys)
    }
}

impl<D: Db> Tokens for SqlStore<D> {
    fn authenticate_token(&self, secret: &TokenSecret, now: Timestamp) -> Result<Authenticated> {
        tokens::authenticate_token(&self.0, secret, now)
    }

    fn create_token(
        &self,
        tenant: &Tenant,
        new: &NewToken,
        now: Timestamp,
    ) -> Result<(Token, TokenSecret)> {
        tokens::create_token(&self.0, tenant, new, now)
    }

    fn token(&self, tenant: &Tenant, id: TokenId) -> Result<Token> {
        tokens::token(&self.0, tenant, id)
    }

    fn list_tokens(&self, tenant: &Tenant, kind: Option<TokenKind>) -> Result<Vec<Token>> {
        tokens::list_tokens(&self.0, tenant, kind)
    }

    fn revoke_token(&self, tenant: &Tenant, id: TokenId, now: Timestamp) -> Result<()> {
        tokens::revoke_token(&self.0, tenant, id, now)
    }

    fn issue_refresh_token(
        &self,
        tenant: &Tenant,
        user: UserId,
        now: Timestamp,
    ) -> Result<TokenSecret> {
        tokens::issue_refresh_token(&self.0, tenant, user, now)
    }

    fn rotate_refresh_token(&self, secret: &TokenSecret, now: Timestamp) -> Result<Rotated> {
        tokens::rotate_refresh_token(&self.0, secret, now)
    }

    fn revoke_refresh_token(&self, secret: &TokenSecret, now: Timestamp) -> Result<()> {
        tokens::revoke_refresh_token(&self.0, secret, now)
    }
}

impl<D: Db> Counters for SqlStore<D> {
    fn increment(&self, key: &str, by: u64, expires_at: Timestamp) -> Result<u64> {
        counters::increment_counter(&self.0, key, by, expires_at)
    }

    fn current(&self, key: &str, now: Timestamp) -> Result<u64> {
        counters::counter(&self.0, key, now)
    }

    fn purge_expired_counters(&self, now: Timestamp) -> Result<usize> {
        counters::purge_expired_counters(&self.0, now)
    }

    fn claim_tick(&self, job: &str, tick: u64, now: Timestamp) -> Result<bool> {
        counters::claim_tick(&self.0, job, tick, now)
    }

    fn increment_within(
        &self,
        key: &str,
        by: u64,
        limit: u64,
        expires_at: Timestamp,
    ) -> Result<Option<u64>> {
        counters::increment_within(&self.0, key, by, limit, expires_at)
    }

    fn count_discarded(
        &self,
        tenant: &Tenant,
        device: Option<DeviceId>,
        hour: Timestamp,
        points: u64,
    ) -> Result<()> {
        counters::count_discarded(&self.0, tenant, device, hour, points)
    }

    fn discarded(&self, tenant: &Tenant, from: Timestamp, to: Timestamp) -> Result<Vec<Discarded>> {
        counters::discarded(&self.0, tenant, from, to)
    }
}

impl<D: Db> Points for SqlStore<D> {
    fn write_points(&self, tenant: &Tenant, points: &[(ChannelRef, Point)]) -> Result<usize> {
        points::write_points(&self.0, tenant, points)
    }

    fn write_points_within(
        &self,
        tenant: &Tenant,
        points: &[(ChannelRef, Point)],
        reservations: &[Reservation],
    ) -> Result<Reserved> {
        points::write_points_within(&self.0, tenant, points, reservations)
    }

    fn point_page(&self, tenant: &Tenant, page: &PointPage<'_>) -> Result<Vec<(i64, Point)>> {
        conduit::point_page(&self.0, tenant, page)
    }

    fn latest_points(
        &self,
        tenant: &Tenant,
        channels: &[ChannelRef],
    ) -> Result<Vec<(ChannelRef, Point)>> {
        points::latest_points(&self.0, tenant, channels)
    }

    fn points_between(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        from: Timestamp,
        last: Timestamp,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<Point>> {
        series::points_between(&self.0, tenant, channel, from, last, order, limit)?
            .into_iter()
            .map(|(ms, v)| {
                let ts = Timestamp::from_millis(ms).map_err(crate::error::corrupt)?;
                Point::new(ts, v).map_err(crate::error::corrupt)
            })
            .collect()
    }

    fn roll_up_pending(&self, max_hours: usize, ended_by: Timestamp) -> Result<usize> {
        points::roll_up_pending(&self.0, max_hours, ended_by)
    }

    fn hourly_aggregates(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<HourlyRollup>> {
        let (from, to) = (from.hour_start(), to.hour_start());
        if from >= to {
            return Ok(Vec::new());
        }
        let last = to.add_millis(-1);
        series::interval_summaries(
            &self.0,
            tenant,
            channel,
            from,
            last,
            from.as_millis(),
            Timestamp::HOUR_MS,
        )?
        .into_iter()
        .map(|s| {
            Ok(HourlyRollup {
                hour: Timestamp::from_millis(s.start_ms).map_err(crate::error::corrupt)?,
                count: s.count,
                sum: s.sum,
                min: s.min,
                max: s.max,
            })
        })
        .collect()
    }

    fn delete_expired(
        &self,
        tenant: &Tenant,
        points_before: Timestamp,
        rollups_before: Timestamp,
        batch: usize,
    ) -> Result<(usize, usize)> {
        points::delete_expired(&self.0, tenant, points_before, rollups_before, batch)
    }

    fn maintain_partitions(&self, now: Timestamp, points_before: Timestamp) -> Result<usize> {
        let month_ahead = now.add_millis(31 * 24 * Timestamp::HOUR_MS);
        points::prepare_partitions(&self.0, &[now.as_millis(), month_ahead.as_millis()])?;
        points::drop_expired_partitions(&self.0, points_before)
    }
}

impl<D: Db> Series for SqlStore<D> {
    fn list_series(&self, tenant: &Tenant, filter: SeriesFilter<'_>) -> Result<Vec<SeriesInfo>> {
        series::list_series(&self.0, tenant, filter)
    }

    fn set_written(
        &self,
        tenant: &Tenant,
        channel: &fieldline_domain::ChannelId,
        tags: &[(String, String)],
        field: Option<&(String, String)>,
    ) -> Result<()> {
        series::set_written(&self.0, tenant, channel, tags, field)
    }

    fn query_source<'a>(
        &'a self,
        tenant: &'a Tenant,
        model_database: &'a str,
        model_general: bool,
    ) -> Box<dyn query::Source + 'a> {
        Box::new(
            crate::QuerySource::new(&self.0, tenant, model_database).model_general(model_general),
        )
    }
}

impl<D: Db> Outbox for SqlStore<D> {
    fn enqueue(
        &self,
        tenant: &Tenant,
        topic: &str,
        idempotency_key: &str,
        payload: &str,
        now: Timestamp,
    ) -> Result<bool> {
        outbox::enqueue(&self.0, tenant, topic, idempotency_key, payload, now)
    }

    fn claim(
        &self,
        topic: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>> {
        outbox::claim(&self.0, topic, now, lease_until, limit)
    }

    fn mark_sent(&self, id: i64, now: Timestamp) -> Result<()> {
        outbox::mark_sent(&self.0, id, now)
    }

    fn retry_later(&self, id: i64, retry_at: Timestamp, error: &str) -> Result<()> {
        outbox::retry_later(&self.0, id, retry_at, error)
    }

    fn backlog(&self, topic: &str) -> Result<(u64, Option<Timestamp>)> {
        outbox::backlog(&self.0, topic)
    }

    fn purge_sent(&self, topic: &str, sent_before: Timestamp, limit: usize) -> Result<usize> {
        outbox::purge_sent(&self.0, topic, sent_before, limit)
    }
}

impl<D: Db> Alarms for SqlStore<D> {
    fn queued_points(&self, limit: usize) -> Result<Vec<QueuedPoint>> {
        alarms::queued_points(&self.0, limit)
    }

    fn dequeue_points(&self, through_seq: i64) -> Result<usize> {
        alarms::dequeue_points(&self.0, through_seq)
    }

    fn alarm_subjects(&self, channel_keys: &[i64]) -> Result<Vec<AlarmSubject>> {
        alarms::alarm_subjects(&self.0, channel_keys)
    }

    fn channel_alarms(&self, channel_keys: &[i64]) -> Result<Vec<(i64, ChannelAlarms)>> {
        alarms::channel_alarms(&self.0, channel_keys)
    }

    fn save_channel_alarms(
        &self,
        channel: ChannelRef,
        state: &ChannelAlarms,
        due_at: Option<Timestamp>,
    ) -> Result<()> {
        alarms::save_channel_alarms(&self.0, channel, state, due_at)
    }

    fn channels_due(&self, now: Timestamp, limit: usize) -> Result<Vec<i64>> {
        alarms::channels_due(&self.0, now, limit)
    }

    fn addresses_to_verify(&self, limit: usize) -> Result<Vec<AddressToVerify>> {
        alarms::addresses_to_verify(&self.0, limit)
    }

    fn add_verification(
        &self,
        address: &AddressToVerify,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<bool> {
        alarms::add_verification(&self.0, address, hash, now)
    }

    fn verify_address(&self, hash: &TokenHash, now: Timestamp) -> Result<(DeviceId, Email)> {
        alarms::verify_address(&self.0, hash, now)
    }

    fn add_notification(
        &self,
        channel: ChannelRef,
        kind: &str,
        title: &str,
        body: &str,
        now: Timestamp,
        recipients: &[i64],
    ) -> Result<()> {
        alarms::add_notification(&self.0, channel, kind, title, body, now, recipients)
    }

    fn notifications(
        &self,
        tenant: &Tenant,
        user: UserId,
        unread_only: bool,
        limit: usize,
    ) -> Result<Vec<Notification>> {
        alarms::notifications(&self.0, tenant, user, unread_only, limit)
    }

    fn read_notification(
        &self,
        tenant: &Tenant,
        user: UserId,
        id: i64,
        now: Timestamp,
    ) -> Result<Notification> {
        alarms::read_notification(&self.0, tenant, user, id, now)
    }

    fn dismiss_notification(
        &self,
        tenant: &Tenant,
        user: UserId,
        id: i64,
        now: Timestamp,
    ) -> Result<()> {
        alarms::dismiss_notification(&self.0, tenant, user, id, now)
    }

    fn subscribers(&self, org_key: i64) -> Result<Vec<Subscriber>> {
        topics::subscribers(&self.0, org_key)
    }

    fn topic_subscriptions(
        &self,
        tenant: &Tenant,
        user: UserId,
    ) -> Result<Vec<TopicSubscriptionView>> {
        topics::topic_subscriptions(&self.0, tenant, user)
    }

    fn add_topic_subscription(
        &self,
        tenant: &Tenant,
        user: UserId,
        topic: &NewTopicSubscription,
        now: Timestamp,
    ) -> Result<TopicSubscriptionView> {
        topics::add_topic_subscription(&self.0, tenant, user, topic, now)
    }

    fn delete_topic_subscription(&self, tenant: &Tenant, user: UserId, id: i64) -> Result<()> {
        topics::delete_topic_subscription(&self.0, tenant, user, id)
    }

    fn quiet_hours(&self, tenant: &Tenant, user: UserId) -> Result<QuietHours> {
        topics::quiet_hours(&self.0, tenant, user)
    }

    fn set_quiet_hours(&self, tenant: &Tenant, user: UserId, quiet: &QuietHours) -> Result<()> {
        topics::set_quiet_hours(&self.0, tenant, user, quiet)
    }

    fn notification_reminder(&self, tenant: &Tenant, device: DeviceId) -> Result<Option<u32>> {
        alarms::notification_reminder(&self.0, tenant, device)
    }

    fn set_notification_reminder(
        &self,
        tenant: &Tenant,
        device: DeviceId,
        secs: Option<u32>,
    ) -> Result<()> {
        alarms::set_notification_reminder(&self.0, tenant, device, secs)
    }

    fn hold_mail(
        &self,
        org_key: i64,
        user_key: i64,
        release_at: Timestamp,
        mail: &str,
        now: Timestamp,
    ) -> Result<()> {
        topics::hold_mail(&self.0, org_key, user_key, release_at, mail, now)
    }

    fn members_with_released_mail(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Tenant, i64)>> {
        topics::members_with_released_mail(&self.0, now, limit)
    }

    fn take_released_mail(
        &self,
        org_key: i64,
        user_key: i64,
        now: Timestamp,
    ) -> Result<Vec<(i64, String)>> {
        topics::take_released_mail(&self.0, org_key, user_key, now)
    }
}

impl<D: Db> Sensorbis for SqlStore<D> {
    fn set_push_credential(
        &self,
        tenant: &Tenant,
        device: DeviceId,
        hash: &TokenHash,
        sealed: &[u8],
        replace: bool,
        now: Timestamp,
    ) -> Result<bool> {
        sensorbis::set_push_credential(&self.0, tenant, device, hash, sealed, replace, now)
    }

    fn push_device(&self, secret: &TokenSecret) -> Result<PushDevice> {
        sensorbis::push_device(&self.0, secret)
    }

    fn sealed_push_credentials(
        &self,
        tenant: &Tenant,
        device: Option<DeviceId>,
    ) -> Result<HashMap<DeviceId, Vec<u8>>> {
        sensorbis::sealed_push_credentials(&self.0, tenant, device)
    }

    fn create_sealed_token(
        &self,
        tenant: &Tenant,
        new: &NewToken,
        seal: &dyn Fn(&TokenSecret) -> Result<Vec<u8>>,
        now: Timestamp,
    ) -> Result<(Token, TokenSecret)> {
        sensorbis::create_sealed_token(&self.0, tenant, new, seal, now)
    }

    fn sealed_device_tokens(
        &self,
        tenant: &Tenant,
        device: Option<DeviceId>,
        now: Timestamp,
    ) -> Result<HashMap<DeviceId, Vec<u8>>> {
        sensorbis::sealed_device_tokens(&self.0, tenant, device, now)
    }

    fn hourly_magnitude(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        hour: Timestamp,
        except: Timestamp,
    ) -> Result<f64> {
        channel.check(tenant)?;
        sensorbis::hourly_magnitude(&self.0, channel.key, hour, except)
    }
}

impl<D: Db> Deviations for SqlStore<D> {
    fn deviation_subjects(&self, channel_keys: &[i64]) -> Result<Vec<DeviationSubject>> {
        deviations::deviation_subjects(&self.0, channel_keys)
    }

    fn deviation_devices(&self) -> Result<Vec<DeviationDevice>> {
        deviations::deviation_devices(&self.0)
    }

    fn deviation_inputs(&self, device_key: i64) -> Result<Vec<DeviationSubject>> {
        deviations::deviation_inputs(&self.0, device_key)
    }

    fn deviation_states(&self, subjects: &[String]) -> Result<Vec<(String, DeviationState)>> {
        deviations::deviation_states(&self.0, subjects)
    }

    fn save_deviation_state(
        &self,
        org_key: i64,
        subject: &str,
        state: &DeviationState,
    ) -> Result<()> {
        deviations::save_deviation_state(&self.0, org_key, subject, state)
    }

    fn open_incident(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        condition: ConditionKey,
        new: &NewIncident,
    ) -> Result<Incident> {
        incidents::open_condition_incident(&self.0, tenant, channel, Some(condition), new)
    }

    fn active_incident(
        &self,
        tenant: &Tenant,
        channel: ChannelRef,
        condition: ConditionKey,
    ) -> Result<Option<Incident>> {
        incidents::active_condition_incident(&self.0, tenant, channel, condition)
    }

    fn end_incident(&self, tenant: &Tenant, id: i64, end: Timestamp) -> Result<Incident> {
        incidents::close_incident(&self.0, tenant, id, end)
    }

    fn confirm_incident(&self, tenant: &Tenant, id: i64, at: Timestamp) -> Result<Incident> {
        incidents::confirm_incident(&self.0, tenant, id, at)
    }

    fn incident(&self, tenant: &Tenant, id: i64) -> Result<Incident> {
        incidents::incident(&self.0, tenant, id)
    }

    fn incidents(&self, tenant: &Tenant, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        incidents::filter_incidents(&self.0, tenant, filter)
    }

    fn incident_subject(&self, tenant: &Tenant, id: i64) -> Result<DeviationSubject> {
        deviations::incident_subject(&self.0, tenant, id)
    }

    fn deviation_broker(&self, org: OrgId) -> Result<Option<StoredBroker>> {
        deviations::deviation_broker(&self.0, org)
    }

    fn set_deviation_broker(&self, tenant: &Tenant, broker: Option<&StoredBroker>) -> Result<()> {
        deviations::set_deviation_broker(&self.0, tenant, broker)
    }

    fn device_deviation_settings(
        &self,
        tenant: &Tenant,
        device: DeviceId,
    ) -> Result<DeviceSettings> {
        deviations::device_deviation_settings(&self.0, tenant, device)
    }

    fn set_device_deviation_settings(
        &self,
        tenant: &Tenant,
        device: DeviceId,
        settings: &DeviceSettings,
    ) -> Result<()> {
        deviations::set_device_deviation_settings(&self.0, tenant, device, settings)
    }

    fn channel_deviation_settings(
        &self,
        tenant: &Tenant,
        channel: ChannelId,
    ) -> Result<ChannelSettings> {
        deviations::channel_deviation_settings(&self.0, tenant, channel)
    }

    fn set_channel_deviation_settings(
        &self,
        tenant: &Tenant,
        channel: ChannelId,
        settings: &ChannelSettings,
    ) -> Result<()> {
        deviations::set_channel_deviation_settings(&self.0, tenant, channel, settings)
    }

    fn claim_in_order(
        &self,
        topic: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>> {
        deviations::claim_in_order(&self.0, topic, now, lease_until, limit)
    }

    fn retry_org_later(
        &self,
        topic: &str,
        org: OrgId,
        retry_at: Timestamp,
        error: &str,
    ) -> Result<usize> {
        deviations::retry_org_later(&self.0, topic, org, retry_at, error)
    }
}

impl<D: Db> Atomic for SqlStore<D> {
    fn atomically(&self, f: &mut dyn FnMut(&dyn Store) -> Result<()>) -> Result<()> {
        transaction(&self.0, |db| f(&SqlStore(db)))
    }
}
