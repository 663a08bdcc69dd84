-- Argo CD health of a tradeplane.io Backtest, read from the status the operator writes.
--
-- Argo CD runs this with only the base, table and a reduced os library (no string library),
-- in Lua 5.1, so it uses nothing else. The checks, in order:
--   1. no status yet, or a status older than the spec: Progressing;
--   2. Failed=True (a run failed, or the spec cannot run: an unknown sweep path, a config
--      the runtime would refuse): Degraded;
--   3. Complete=True (every run succeeded): Healthy;
--   4. anything else (runs pending or under way): Progressing, with the runs finished.
-- A backtest is never Suspended: it has nothing to pause.

local function condition(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

-- "Reason: message", or just the reason when the message is empty.
local function describe(c)
  if c.message == nil or c.message == "" then
    return c.reason or c.type
  end
  return (c.reason or c.type) .. ": " .. c.message
end

local hs = {}
local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local failed = condition(status.conditions, "Failed")
if failed ~= nil and failed.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(failed)
  return hs
end

local complete = condition(status.conditions, "Complete")
if complete ~= nil and complete.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(complete)
  return hs
end

hs.status = "Progressing"
if complete ~= nil then
  hs.message = describe(complete)
else
  hs.message = "Waiting for the runs to start"
end
return hs
