"""Field budgets: limits on real users' Web Vitals, the daily regression check, lab versus field."""
