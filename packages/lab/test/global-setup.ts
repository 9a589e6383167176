// Placeholder until the lab lands: integration tests start the shared lab here.
export default async function globalSetup(): Promise<void> {}
