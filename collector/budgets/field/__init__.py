"""Field budgets on real users' Web Vitals, and the daily field regression check."""
