"""What a run measured (pure): figures, outcomes, time series, the report and plots."""
