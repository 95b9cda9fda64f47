performance.mark('hero-start');
document.querySelector('h1').textContent = 'Shop, ready';
performance.mark('hero-end');
performance.measure('hero render', 'hero-start', 'hero-end');
