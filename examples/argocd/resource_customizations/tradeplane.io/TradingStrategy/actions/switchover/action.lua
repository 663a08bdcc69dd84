-- A new spec.switchoverAt makes the leader hand its Lease to a standby; status.lastSwitchoverAt
-- records the last value handled. With a single replica there is no standby to hand over to.
local replicas = obj.spec.replicas or 1
if replicas < 2 then
  error("switchover needs a standby: spec.replicas is " .. replicas .. ", set it to 2 or more (with a Postgres journal)")
end
obj.spec.switchoverAt = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
