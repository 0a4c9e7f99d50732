import { defineInfra } from 'provisioning';

// Infra 'local' of workspace '{{ name }}': two small Debian servers as containers, with nginx and redis.
// Fields: InfraSettings and Server (`provisioning schema show infra`). Provider
// defaults (image, socket) come from [providers.local] in provisioning.toml.
export default defineInfra({
  name: 'local',
  description: 'Two Debian 12 containers to try things out',
  labels: { workspace: '{{ name }}' },
  defaults: {
    cores: 1,
    memory: '512MiB',
    time_zone: 'UTC',
  },
  servers: [
    // Taskservs are installed, started and smoke-tested by `provisioning taskserv create`.
    { hostname: 'web-01', title: 'web server', labels: { role: 'web' }, taskservs: ['nginx'] },
    { hostname: 'db-01', title: 'database server', labels: { role: 'db' }, memory: '1GiB', taskservs: ['redis'] },
  ],
});
