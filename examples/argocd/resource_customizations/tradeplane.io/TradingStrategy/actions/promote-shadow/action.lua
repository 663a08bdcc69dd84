-- A shadow that passed its analysis (onSuccess: Wait) is promoted by the annotation
-- tradeplane.io/promote-shadow naming its revision: a promote meant for one revision never
-- promotes a later one. The operator rolls the live pods to it through the usual path.
local rollout = (obj.status or {}).rollout or {}
if rollout.verdict ~= "Succeeded" or rollout.shadowRevision == nil then
  error("promote-shadow needs a shadow that passed: status.rollout.verdict is " .. tostring(rollout.verdict))
end
obj.metadata.annotations = obj.metadata.annotations or {}
obj.metadata.annotations["tradeplane.io/promote-shadow"] = rollout.shadowRevision
return obj
