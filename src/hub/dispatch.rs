//! Incoming frames: the rate check before any parse, then one action's dispatch.

use super::failure::Failure;
use super::home::{Asker, Done, NewRoom, Sequenced};
use super::rate::Verdict;
use super::store::{Epoch, Since};
use super::{CLOSE_POLICY, Hub, Now, Outbox, error};
use crate::ClientId;
use crate::protocol::{self, Action, ErrorCode, Scope};

impl Hub {
    /// A text message arrived from `client`.
    pub fn handle_text(&mut self, now: Now, client: ClientId, text: &str, out: &mut Outbox) {
        self.clock_ms = now.unix_ms;
        // Parsing is what a flood would cost, so the token check comes first.
        // Only a frame small enough to be a typing notice, while typing's own
        // allowance has a token, is parsed before it: typing must not cost a
        // message.
        let early = (text.len() <= crate::limits::TYPING_FRAME && self.typing_ready(now, client))
            .then(|| protocol::parse(text));
        let typing = matches!(&early, Some(Ok(r)) if matches!(r.action, Action::Typing { .. }));
        let Some(verdict) = self.admit(now, client, typing) else {
            return;
        };
        let parsed = match early {
            Some(parsed) => parsed,
            None if verdict == Verdict::Pass => protocol::parse(text),
            // Over the limit and not parsed: the answer cannot carry a `ref`.
            None => return self.limited(client, verdict, None, out),
        };
        let request = match parsed {
            Ok(request) if verdict == Verdict::Pass => request,
            Ok(request) => return self.limited(client, verdict, request.reference, out),
            Err(rejection) if verdict == Verdict::Pass => {
                let problem = &rejection.problem;
                let reference = rejection.reference;
                return error(
                    out,
                    client,
                    problem.code(),
                    format_args!("{problem}"),
                    reference,
                );
            }
            Err(rejection) => return self.limited(client, verdict, rejection.reference, out),
        };
        #[cfg(feature = "redis")]
        if self
            .cluster_dispatch(now, client, &request.action, request.reference, out)
            .is_some()
        {
            return;
        }
        match self.dispatch(now, client, &request.action, request.reference, out) {
            Ok(Done::Later) => {}
            Ok(Done::Now) => {
                if let Some(reference) = request.reference {
                    let mark = out.mark();
                    protocol::write_ack(out.buf(), reference);
                    out.recipient(client);
                    out.commit(mark);
                }
            }
            Err(failure) => error(
                out,
                client,
                failure.code(),
                format_args!("{failure}"),
                request.reference,
            ),
        }
    }

    /// A binary message arrived from `client` (answered with `bad_json`).
    pub fn handle_binary(&mut self, now: Now, client: ClientId, out: &mut Outbox) {
        match self.admit(now, client, false) {
            None => {}
            Some(Verdict::Pass) => error(
                out,
                client,
                ErrorCode::BadJson,
                format_args!("binary frames are not JSON: send text"),
                None,
            ),
            Some(verdict) => self.limited(client, verdict, None, out),
        }
    }

    /// Whether `client`'s typing allowance has a token left (not taking it).
    fn typing_ready(&self, now: Now, client: ClientId) -> bool {
        let (rate, burst) = crate::limits::TYPING_RATE;
        matches!(self.conns.get(client.0), Some(Some(c)) if !c.closing && c.typing_rate.ready(now.mono, rate, burst))
    }

    /// Rate-checks a frame; `None` for unknown or closing clients (ignored).
    /// A `typing` frame is first taken from its own allowance.
    fn admit(&mut self, now: Now, client: ClientId, typing: bool) -> Option<Verdict> {
        let conn = self.conns.get_mut(client.0)?.as_mut()?;
        if conn.closing {
            return None;
        }
        let c = &self.config;
        let (rate, burst) = crate::limits::TYPING_RATE;
        if typing && conn.typing_rate.check(now.mono, rate, burst, c.rate_grace) == Verdict::Pass {
            return Some(Verdict::Pass);
        }
        Some(
            conn.rate
                .check(now.mono, c.rate_limit, c.rate_burst, c.rate_grace),
        )
    }

    /// Answers a frame over the rate limit, and closes a client past its grace.
    fn limited(
        &mut self,
        client: ClientId,
        verdict: Verdict,
        reference: Option<&str>,
        out: &mut Outbox,
    ) {
        let rate = self.config.rate_limit;
        error(
            out,
            client,
            ErrorCode::RateLimited,
            format_args!("over {rate} messages per second: slow down"),
            reference,
        );
        if verdict == Verdict::Close {
            out.close(client, CLOSE_POLICY, "rate limit exceeded");
            if let Some(conn) = self.conns[client.0].as_mut() {
                conn.closing = true;
            }
        }
    }

    /// Runs one action; room state goes through the seam (`home`), whose
    /// answer may come later (then the home's reply path acks or refuses).
    fn dispatch<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        action: &'r Action<'r>,
        reference: Option<&str>,
        out: &mut Outbox,
    ) -> Result<Done, Failure<'r>> {
        let asker = Asker::Client { client, reference };
        let done = match action {
            Action::Broadcast { message } => {
                let (rate, burst) = (self.config.broadcast_rate, self.config.broadcast_burst);
                let conn = self.conns[client.0].as_mut().expect("sender is connected");
                if !conn.broadcasts.take(now.mono, rate, burst) {
                    return Err(Failure::BroadcastBudget(rate));
                }
                let from = &*self.conn(client).user_json;
                self.broadcast_from(from, now, message.get(), out);
                Ok(())
            }
            Action::Notify { user, message } => {
                let Some(tabs) = self.users.get(&**user) else {
                    return Err(Failure::NoSuchUser(user));
                };
                // The oldest tab keeps the user's budget: it lives as long as the user does.
                let (rate, burst) = (self.config.notify_rate, self.config.notify_burst);
                let keeper = self.conns[tabs[0].0].as_mut().expect("tab is connected");
                if !keeper.notes.take(now.mono, rate, burst) {
                    return Err(Failure::NotifyBudget(user, rate));
                }
                let conn = self.conns[client.0].as_ref().expect("sender is connected");
                let mark = out.mark();
                let scope = Scope::User { to: user };
                let from = &conn.user_json;
                protocol::write_message(out.buf(), from, scope, now.unix_ms, message.get());
                out.recipients(tabs);
                out.commit(mark);
                Ok(())
            }
            Action::Join {
                room,
                password,
                since,
                epoch,
            } => {
                let since = since.map(|seq| Since {
                    seq,
                    epoch: epoch.as_deref().map(Epoch::claimed),
                });
                let password = password.as_deref();
                return self.enter_room_state(
                    now,
                    client,
                    room,
                    password,
                    Some(since),
                    reference,
                    out,
                );
            }
            Action::Subscribe { room, password } => {
                let password = password.as_deref();
                return self.enter_room_state(now, client, room, password, None, reference, out);
            }
            Action::Leave { room } | Action::Unsubscribe { room } => self.exit(client, room, out),
            Action::Delete { room } => return self.remove(now, room, asker, out),
            Action::Publish { room, message } => {
                return match self.append(now, room, message.get(), asker, out)? {
                    Sequenced::Now { .. } => Ok(Done::Now),
                    Sequenced::Later => Ok(Done::Later),
                    Sequenced::Unavailable => Err(Failure::Unavailable),
                };
            }
            Action::Typing { room, value } => self.set_typing(now, client, room, *value, out),
            Action::History { room, since, epoch } => {
                let since = since.map(|seq| Since {
                    seq,
                    epoch: epoch.as_deref().map(Epoch::claimed),
                });
                return self.read_history(client, room, since, reference, out);
            }
            Action::Members { room, offset } => self.members(client, room, *offset, out),
            Action::Rooms { offset } => {
                self.list_rooms(client, *offset, out);
                Ok(())
            }
            Action::Create {
                room,
                max_members,
                password,
                history,
            } => {
                let settings = NewRoom {
                    max_members: *max_members,
                    password: password.as_deref(),
                    history: *history,
                };
                return self.create_room(now, client, room, settings, reference);
            }
        };
        done.map(|()| Done::Now)
    }
}
