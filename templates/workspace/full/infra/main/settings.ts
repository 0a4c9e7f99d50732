import { defineInfra, secret, type Server } from 'provisioning';

// Infra 'main' of workspace '{{ name }}': two web servers behind nginx and one
// PostgreSQL server. Fields: `provisioning schema show infra`.
const web = (n: number): Server => ({
  hostname: `web-0${n}`,
  title: `web server ${n}`,
  labels: { role: 'web' },
  taskservs: ['containerd', { name: 'nginx', settings: { worker_processes: 2 } }],
});

export default defineInfra({
  name: 'main',
  description: 'web and database tier',
  labels: { workspace: '{{ name }}' },
  defaults: { cores: 1, memory: '1GiB', time_zone: 'UTC' },
  taskserv_defaults: { postgres: { version: '^2' } },
  servers: [
    web(1),
    web(2),
    {
      hostname: 'db-01',
      title: 'database server',
      labels: { role: 'db' },
      cores: 2,
      memory: '2GiB',
      protected: true,
      // The password stays encrypted: create it with `provisioning secrets create main/postgres-admin`.
      taskservs: [{ name: 'postgres', settings: { max_connections: 100, password: secret('main/postgres-admin') } }],
    },
  ],
});
