-- A running or passed shadow is aborted by the annotation tradeplane.io/abort-shadow naming
-- its revision: the operator removes the shadow, the live pods keep their revision, and the
-- status says ShadowFailed, aborted by the user, until the spec asks for another revision.
local rollout = (obj.status or {}).rollout or {}
local verdict = rollout.verdict
local live = verdict == "Seeding" or verdict == "Running" or verdict == "Succeeded"
if not live or rollout.shadowRevision == nil then
  error("abort-shadow needs a shadow that runs: status.rollout.verdict is " .. tostring(verdict))
end
obj.metadata.annotations = obj.metadata.annotations or {}
obj.metadata.annotations["tradeplane.io/abort-shadow"] = rollout.shadowRevision
return obj
