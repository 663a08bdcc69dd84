-- Failover: the leadership epoch (the Lease's transition count) an order was placed under,
-- so the journal says which leader placed each order. Empty for a single replica.
ALTER TABLE orders ADD COLUMN lease_epoch INTEGER;
