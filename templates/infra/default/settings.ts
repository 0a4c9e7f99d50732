import { defineInfra } from 'provisioning';

// Infra '{{ name }}' of workspace '{{ workspace }}'. Fields: `provisioning schema show infra`;
// check it with `provisioning validate infra {{ name }}`.
export default defineInfra({
  name: '{{ name }}',
{% if provider %}
  provider: '{{ provider }}',
{% endif %}
  labels: { infra: '{{ name }}' },
  servers: [
    { hostname: 'web-01', title: 'web server', labels: { role: 'web' } },
    { hostname: 'db-01', title: 'database server', labels: { role: 'db' } },
  ],
});
