export { testFlavor, assertNoLeak, type ConformanceOptions, type ConformanceHelpers, type TestRunner, type ManagerSettings } from './conformance.js';
