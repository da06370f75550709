import { describeCounting } from "./counting-suite.ts";

describeCounting("memory", () => ({ storeToml: 'engine = "memory"', overLimitCache: false }));
