performance.mark('hero-start');
// A regression: the hero now blocks the main thread for about 600 ms.
var stop = Date.now() + 600;
while (Date.now() < stop) {}
document.querySelector('h1').textContent = 'Shop, ready';
performance.mark('hero-end');
performance.measure('hero render', 'hero-start', 'hero-end');
