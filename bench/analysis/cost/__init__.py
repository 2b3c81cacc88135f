"""The cost model: the price catalog (`catalog`) and how a run's measured figures are projected
onto catalog VMs (`projection`)."""
