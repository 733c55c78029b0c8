"""Demo and scale data, outside the product's services: the demo units, accounts and cases (`accounts`, `cases`),
one set of sample form answers (`samples`), the scale generator (`generator`, `flask generate`)."""
