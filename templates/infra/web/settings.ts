import { defineInfra, secret, type Server } from 'provisioning';

// Infra '{{ name }}' of workspace '{{ workspace }}': two nginx web servers and one PostgreSQL
// server. Fields: `provisioning schema show infra`; taskserv settings: `provisioning taskserv show <name>`.
const web = (n: number): Server => ({
  hostname: `web-0${n}`,
  title: `web server ${n}`,
  labels: { role: 'web' },
  taskservs: [{ name: 'nginx', settings: { worker_processes: 2 } }],
});

export default defineInfra({
  name: '{{ name }}',
{% if provider %}
  provider: '{{ provider }}',
{% endif %}
  labels: { infra: '{{ name }}' },
  servers: [
    web(1),
    web(2),
    {
      hostname: 'db-01',
      title: 'database server',
      labels: { role: 'db' },
      protected: true,
      // The password stays encrypted: create it with `provisioning secrets create {{ name }}/postgres-admin`.
      taskservs: [{ name: 'postgres', settings: { max_connections: 100, password: secret('{{ name }}/postgres-admin') } }],
    },
  ],
});
