import { defineInfra } from 'provisioning';

// Infra '{{ name }}' of workspace '{{ workspace }}': no servers yet. Add some with
// `provisioning generate server <hostname> --infra {{ name }}` (prints the entry to paste)
// or by hand; fields: `provisioning schema show infra`.
export default defineInfra({
  name: '{{ name }}',
{% if provider %}
  provider: '{{ provider }}',
{% endif %}
  servers: [],
});
