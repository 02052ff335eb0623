// Package pgha is a test harness for fleetmon's failover tests: it freezes
// and kills a PostgreSQL server with its backends (as a hung or dead
// database machine would look to fleetd), and runs a primary with a
// synchronous standby under Patroni and etcd on loopback ports, in
// directories of the test's own. It is for tests only; production
// deployments run Patroni and etcd as docs/DEPLOY.md says.
package pgha
