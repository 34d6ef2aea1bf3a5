// JVM scenario for deathwatch's tests. "exit N": System.exit(N) after a second; "wait": run
// until killed. Both install a shutdown hook that prints "hook ran", and print "ready" first.
public class Hooked {
    public static void main(String[] args) throws InterruptedException {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("hook ran")));
        System.out.println("ready");
        System.out.flush();
        if (args.length > 1 && args[0].equals("exit")) {
            Thread.sleep(1000);
            System.exit(Integer.parseInt(args[1]));
        }
        while (true) Thread.sleep(60_000);
    }
}
