"""Field budgets on real users' Web Vitals, the daily field regression check, the field gauges."""
