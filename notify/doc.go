// Package notify tells people who are not watching of the alerts the rules
// decide: it sends each alert to the webhooks and e-mail addresses
// subscribed to its unit's subtree and rule, at least once.
//
// It comes after alerts in the data flow. The rules store an episode and
// tell their listeners; the Notifier is one (alerts.EpisodeListener), but
// the call only wakes it: what it sends comes from the database. Its scan
// reads the episodes changed since its cursor, by the id of the
// transaction that changed them (episodes.commit_xid), up to the oldest
// transaction still running, and enqueues one outbox row per episode and
// matching subscription (unique, so a re-evaluation, a repeated scan or a
// second node enqueues nothing twice), moving the cursor in the same
// transaction. An episode stored just before fleetd died is therefore
// enqueued at the next start, by this node or any other: the cursor, not
// the call, is what says what was seen.
//
// Senders claim due rows (FOR UPDATE SKIP LOCKED, so that several nodes
// can send), record the attempt, send, and record how it went. A claim
// lasts a lease longer than a send may take; a sender that dies mid-send
// leaves the row to be claimed again when the lease ends, and the row is
// sent again with the same idempotency key (the webhook's Idempotency-Key
// header, the e-mail's Message-ID), the receiver's means to see the
// duplicate. Failed sends are retried with exponential back-off up to a
// limit, then the row is marked failed and counted.
//
// Files: notifier.go (the Notifier, its configuration and metrics),
// scan.go (enqueueing), sender.go (claiming, sending, recording), webhook.go
// and mail.go (the channels), message.go (what a notification says),
// subscriptions.go (the subscriptions and the send log, for the API).
package notify
