//! Users, memberships and invitations.

use fieldline_domain::{
    Email, Invitation, InvitationId, Membership, OrgId, PasswordHash, Permissions, Timestamp,
    TokenSecret, User, UserId, INVITATION_TTL_SECS,
};

use crate::db::{transaction, Db, Row};
use crate::error::{Conflict, Entity, Error, Result};
use crate::orgs::{insert_membership, insert_user, Tenant};

pub(crate) fn user_key(db: &dyn Db, id: UserId) -> Result<i64> {
    db.execute("SELECT key FROM users WHERE id = ?", &[id.into()])?
        .first()
        .ok_or(Error::NotFound(Entity::User))?
        .i64(0)
}

fn user_from(r: &Row<'_>) -> Result<User> {
    Ok(User {
        id: r.parse(0, UserId::parse)?,
        email: r.parse(1, Email::parse)?,
        created_at: r.ts(2)?,
    })
}

/// For login: the user with this e-mail address and their password hash.
pub fn find_user_by_email(db: &dyn Db, email: &Email) -> Result<Option<(User, PasswordHash)>> {
    let rows = db.execute(
        "SELECT id, email, created_at, password_hash FROM users WHERE email = ?",
        &[email.into()],
    )?;
    rows.first()
        .map(|r| Ok((user_from(&r)?, r.parse(3, PasswordHash::parse)?)))
        .transpose()
}

pub fn user(db: &dyn Db, id: UserId) -> Result<User> {
    let rows = db.execute(
        "SELECT id, email, created_at FROM users WHERE id = ?",
        &[id.into()],
    )?;
    user_from(&rows.first().ok_or(Error::NotFound(Entity::User))?)
}

pub fn set_password(db: &dyn Db, id: UserId, hash: &PasswordHash) -> Result<()> {
    let rows = db.execute(
        "UPDATE users SET password_hash = ? WHERE id = ? RETURNING key",
        &[hash.as_str().into(), id.into()],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::User));
    }
    Ok(())
}

const MEMBER_SELECT: &str = "SELECT o.key, o.id, u.id, u.email, m.permissions, m.created_at \
    FROM memberships m JOIN orgs o ON o.key = m.org_key JOIN users u ON u.key = m.user_key";

fn member_from(r: &Row<'_>) -> Result<(Tenant, Membership)> {
    let org = r.parse(1, OrgId::parse)?;
    Ok((
        Tenant::new(r.i64(0)?, org),
        Membership {
            org,
            user: r.parse(2, UserId::parse)?,
            email: r.parse(3, Email::parse)?,
            permissions: Permissions::from_bits(r.i64(4)?),
            created_at: r.ts(5)?,
        },
    ))
}

/// The organizations a user belongs to (for login: which `org` to put in the token).
pub fn memberships_of_user(db: &dyn Db, user: UserId) -> Result<Vec<(Tenant, Membership)>> {
    let rows = db.execute(
        &format!("{MEMBER_SELECT} WHERE u.id = ? ORDER BY m.created_at, o.key"),
        &[user.into()],
    )?;
    rows.iter().map(|r| member_from(&r)).collect()
}

/// A user's membership of an organization, read fresh on every request so that a change of
/// permissions applies at once.
pub fn member(db: &dyn Db, org: OrgId, user: UserId) -> Result<(Tenant, Membership)> {
    let rows = db.execute(
        &format!("{MEMBER_SELECT} WHERE o.id = ? AND u.id = ?"),
        &[org.into(), user.into()],
    )?;
    member_from(&rows.first().ok_or(Error::NotFound(Entity::Member))?)
}

pub fn list_members(db: &dyn Db, tenant: &Tenant) -> Result<Vec<Membership>> {
    let rows = db.execute(
        &format!("{MEMBER_SELECT} WHERE m.org_key = ? ORDER BY u.email"),
        &[tenant.key.into()],
    )?;
    rows.iter().map(|r| Ok(member_from(&r)?.1)).collect()
}

/// Refuses a change that would leave the organization without an administrator.
fn keep_an_administrator(db: &dyn Db, tenant: &Tenant, user_key: i64) -> Result<()> {
    let rows = db.execute(
        "SELECT count(*) FROM memberships WHERE org_key = ? AND permissions & 1 = 1 AND user_key <> ?",
        &[tenant.key.into(), user_key.into()],
    )?;
    let others = rows.first().map_or(Ok(0), |r| r.i64(0))?;
    if others == 0 {
        return Err(Conflict::LastAdministrator.into());
    }
    Ok(())
}

fn membership_key(db: &dyn Db, tenant: &Tenant, user: UserId) -> Result<(i64, Permissions)> {
    let rows = db.execute(
        "SELECT m.user_key, m.permissions FROM memberships m JOIN users u ON u.key = m.user_key \
         WHERE m.org_key = ? AND u.id = ?",
        &[tenant.key.into(), user.into()],
    )?;
    let r = rows.first().ok_or(Error::NotFound(Entity::Member))?;
    Ok((r.i64(0)?, Permissions::from_bits(r.i64(1)?)))
}

pub fn set_permissions(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
    permissions: Permissions,
) -> Result<Membership> {
    transaction(db, |db| {
        let (user_key, old) = membership_key(db, tenant, user)?;
        if old.administrator && !permissions.administrator {
            keep_an_administrator(db, tenant, user_key)?;
        }
        db.execute(
            "UPDATE memberships SET permissions = ? WHERE org_key = ? AND user_key = ?",
            &[
                permissions.bits().into(),
                tenant.key.into(),
                user_key.into(),
            ],
        )?;
        Ok(())
    })?;
    Ok(member(db, tenant.id(), user)?.1)
}

/// Removes a member and revokes their refresh and Conduit tokens in this organization.
pub fn remove_member(db: &dyn Db, tenant: &Tenant, user: UserId, now: Timestamp) -> Result<()> {
    transaction(db, |db| {
        let (user_key, old) = membership_key(db, tenant, user)?;
        if old.administrator {
            keep_an_administrator(db, tenant, user_key)?;
        }
        db.execute(
            "DELETE FROM memberships WHERE org_key = ? AND user_key = ?",
            &[tenant.key.into(), user_key.into()],
        )?;
        db.execute(
            "UPDATE tokens SET revoked_at = ? WHERE org_key = ? AND user_key = ? AND revoked_at IS NULL",
            &[now.into(), tenant.key.into(), user_key.into()],
        )?;
        Ok(())
    })
}

fn check_room_for_one_more(db: &dyn Db, org_key: i64) -> Result<()> {
    let rows = db.execute(
        "SELECT (SELECT count(*) FROM memberships WHERE org_key = ?1), max_users FROM orgs WHERE key = ?1",
        &[org_key.into()],
    )?;
    let r = rows.first().ok_or(Error::NotFound(Entity::Organization))?;
    let (members, max) = (r.i64(0)?, r.u32(1)?);
    if members >= i64::from(max) {
        return Err(Conflict::MaxUsers(max).into());
    }
    Ok(())
}

const INVITATION_SELECT: &str = "SELECT i.id, o.id, i.email, i.permissions, u.id, i.created_at, \
    i.expires_at, i.accepted_at, o.key FROM invitations i JOIN orgs o ON o.key = i.org_key \
    LEFT JOIN users u ON u.key = i.invited_by";

fn invitation_from(r: &Row<'_>) -> Result<(Tenant, Invitation)> {
    let org = r.parse(1, OrgId::parse)?;
    Ok((
        Tenant::new(r.i64(8)?, org),
        Invitation {
            id: r.parse(0, InvitationId::parse)?,
            org,
            email: r.parse(2, Email::parse)?,
            permissions: Permissions::from_bits(r.i64(3)?),
            invited_by: r.opt_parse(4, UserId::parse)?,
            created_at: r.ts(5)?,
            expires_at: r.ts(6)?,
            accepted_at: r.opt_ts(7)?,
        },
    ))
}

/// Invites an e-mail address; returns the invitation and the secret for its link (shown once,
/// sent by e-mail). A pending invitation of the same address is replaced.
pub fn create_invitation(
    db: &dyn Db,
    tenant: &Tenant,
    email: &Email,
    permissions: Permissions,
    invited_by: Option<UserId>,
    now: Timestamp,
) -> Result<(Invitation, TokenSecret)> {
    let secret = TokenSecret::generate_invitation()?;
    let id = InvitationId::generate()?;
    let expires_at = now.add_secs(INVITATION_TTL_SECS);
    transaction(db, |db| {
        let already = db.execute(
            "SELECT 1 FROM memberships m JOIN users u ON u.key = m.user_key \
             WHERE m.org_key = ? AND u.email = ?",
            &[tenant.key.into(), email.into()],
        )?;
        if !already.is_empty() {
            return Err(Conflict::AlreadyMember.into());
        }
        // An invitation beyond the subscription's members is refused now, not at acceptance
        // only (which checks again: limits may have changed meanwhile).
        check_room_for_one_more(db, tenant.key)?;
        let inviter = invited_by.map(|u| user_key(db, u)).transpose()?;
        db.execute(
            "DELETE FROM invitations WHERE org_key = ? AND email = ? AND accepted_at IS NULL",
            &[tenant.key.into(), email.into()],
        )?;
        db.execute(
            "INSERT INTO invitations (id, org_key, email, permissions, token_hash, invited_by, \
             created_at, expires_at) VALUES (?,?,?,?,?,?,?,?)",
            &[
                id.into(),
                tenant.key.into(),
                email.into(),
                permissions.bits().into(),
                secret.hash().as_bytes().as_slice().into(),
                inviter.into(),
                now.into(),
                expires_at.into(),
            ],
        )?;
        Ok(())
    })?;
    let invitation = Invitation {
        id,
        org: tenant.id(),
        email: email.clone(),
        permissions,
        invited_by,
        created_at: now,
        expires_at,
        accepted_at: None,
    };
    Ok((invitation, secret))
}

pub fn list_invitations(db: &dyn Db, tenant: &Tenant) -> Result<Vec<Invitation>> {
    let rows = db.execute(
        &format!("{INVITATION_SELECT} WHERE i.org_key = ? ORDER BY i.created_at"),
        &[tenant.key.into()],
    )?;
    rows.iter().map(|r| Ok(invitation_from(&r)?.1)).collect()
}

pub fn revoke_invitation(db: &dyn Db, tenant: &Tenant, id: InvitationId) -> Result<()> {
    let rows = db.execute(
        "DELETE FROM invitations WHERE org_key = ? AND id = ? RETURNING key",
        &[tenant.key.into(), id.into()],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::Invitation));
    }
    Ok(())
}

/// The invitation a link's secret opens (to show whom it is from before accepting).
pub fn invitation_by_secret(db: &dyn Db, secret: &TokenSecret) -> Result<(Tenant, Invitation)> {
    let rows = db.execute(
        &format!("{INVITATION_SELECT} WHERE i.token_hash = ?"),
        &[secret.hash().as_bytes().as_slice().into()],
    )?;
    invitation_from(&rows.first().ok_or(Error::NotFound(Entity::Invitation))?)
}

pub use fieldline_service::Accept;

/// Accepts an invitation: the user joins with the invited permissions, within the
/// subscription's member limit.
pub fn accept_invitation(
    db: &dyn Db,
    secret: &TokenSecret,
    who: Accept<'_>,
    now: Timestamp,
) -> Result<(Tenant, Membership)> {
    let (tenant, membership) =
        transaction(db, |db| {
            let (tenant, inv) = invitation_by_secret(db, secret)?;
            if !inv.is_open(now) {
                return Err(Conflict::InvitationClosed.into());
            }
            let user_key = match who {
                Accept::Existing(user) => {
                    let u = crate::users::user(db, user)?;
                    if u.email != inv.email {
                        return Err(Conflict::InvitationForAnotherEmail {
                            invited: inv.email.to_string(),
                        }
                        .into());
                    }
                    user_key(db, user)?
                }
                Accept::NewUser(hash) => insert_user(db, &inv.email, hash, now)?.0,
            };
            check_room_for_one_more(db, tenant.key)?;
            insert_membership(db, tenant.key, user_key, inv.permissions, now)?;
            db.execute(
            "UPDATE invitations SET accepted_at = ?, accepted_by = ? WHERE org_key = ? AND id = ?",
            &[now.into(), user_key.into(), tenant.key.into(), inv.id.into()],
        )?;
            Ok((tenant, inv.email))
        })?;
    let rows = db.execute(
        &format!("{MEMBER_SELECT} WHERE m.org_key = ? AND u.email = ?"),
        &[tenant.key.into(), (&membership).into()],
    )?;
    member_from(&rows.first().ok_or(Error::NotFound(Entity::Member))?)
}
