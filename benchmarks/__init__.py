"""Measuring tools beside the app: `python -m benchmarks.<http|browser|load|hostile>`. They import the app
package (`digitpad`); it never imports them."""
