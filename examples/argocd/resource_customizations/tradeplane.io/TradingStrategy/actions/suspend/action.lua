-- The kill switch: the runtime places no order from now on, whatever spec.tradingState says.
-- Pods stay up for inspection; `resume` undoes it.
obj.spec.suspend = true
return obj
