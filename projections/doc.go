// Package projections builds the read models from the event stream and
// answers queries from them. The read models live behind Store, which has a
// memory implementation here and a Redis one in projections/redisstore; both
// pass the suite in projections/storetest.
package projections
