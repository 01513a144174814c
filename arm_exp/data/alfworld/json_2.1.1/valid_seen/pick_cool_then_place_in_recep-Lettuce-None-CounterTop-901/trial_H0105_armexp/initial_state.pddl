;; Hand-authored by arm-exp for tests and CPU demos; not from the ALFRED/ALFWorld
;; dataset. Room ArmExpKitchenA, task pick_cool_then_place_in_recep. Rendered from
;; arm_exp/envs/alfworld_games.py; edit the spec there, not this file.
(define (problem plan_trial_H0105_armexp)
(:domain alfred)
(:objects
    agent1 - agent
    BowlType - otype
    BreadType - otype
    CupType - otype
    DishSpongeType - otype
    ForkType - otype
    KnifeType - otype
    LettuceType - otype
    PlateType - otype
    PotType - otype
    SaltShakerType - otype
    SpoonType - otype
    TomatoType - otype
    VaseType - otype
    CabinetType - rtype
    CoffeeMachineType - rtype
    CounterTopType - rtype
    DiningTableType - rtype
    DrawerType - rtype
    FridgeType - rtype
    GarbageCanType - rtype
    MicrowaveType - rtype
    ShelfType - rtype
    SinkBasinType - rtype
    StoveBurnerType - rtype
    Plate_bar_01 - object ; plate 1
    Bowl_bar_01 - object ; bowl 1
    Bread_bar_01 - object ; bread 1
    Knife_bar_01 - object ; knife 1
    SaltShaker_bar_01 - object ; saltshaker 1
    Fork_bar_01 - object ; fork 1
    Cup_bar_01 - object ; cup 1
    Lettuce_bar_01 - object ; lettuce 1
    Spoon_bar_01 - object ; spoon 1
    DishSponge_bar_01 - object ; dishsponge 1
    Tomato_bar_01 - object ; tomato 1
    Vase_bar_01 - object ; vase 1
    Pot_bar_01 - object ; pot 1
    Cabinet_bar_04 - receptacle ; cabinet 1
    Cabinet_bar_03 - receptacle ; cabinet 2
    Cabinet_bar_02 - receptacle ; cabinet 3
    Cabinet_bar_01 - receptacle ; cabinet 4
    CoffeeMachine_bar_01 - receptacle ; coffeemachine 1
    CounterTop_bar_02 - receptacle ; countertop 1
    CounterTop_bar_01 - receptacle ; countertop 2
    DiningTable_bar_01 - receptacle ; diningtable 1
    Drawer_bar_02 - receptacle ; drawer 1
    Drawer_bar_01 - receptacle ; drawer 2
    Fridge_bar_01 - receptacle ; fridge 1
    GarbageCan_bar_01 - receptacle ; garbagecan 1
    Microwave_bar_01 - receptacle ; microwave 1
    Shelf_bar_01 - receptacle ; shelf 1
    Sink_bar_01_bar_SinkBasin - receptacle ; sinkbasin 1
    StoveBurner_bar_02 - receptacle ; stoveburner 1
    StoveBurner_bar_01 - receptacle ; stoveburner 2
    loc_bar_0_bar_0_bar_0_bar_30 - location ; where the agent starts
    loc_bar_1_bar_0_bar_0_bar_30 - location ; in front of cabinet 1
    loc_bar_2_bar_3_bar_90_bar_30 - location ; in front of cabinet 2
    loc_bar_3_bar_6_bar_180_bar_30 - location ; in front of cabinet 3
    loc_bar_4_bar_2_bar_270_bar_30 - location ; in front of cabinet 4
    loc_bar_5_bar_5_bar_0_bar_30 - location ; in front of coffeemachine 1
    loc_bar_6_bar_1_bar_90_bar_30 - location ; in front of countertop 1
    loc_bar_7_bar_4_bar_180_bar_30 - location ; in front of countertop 2
    loc_bar_8_bar_0_bar_270_bar_30 - location ; in front of diningtable 1
    loc_bar_9_bar_3_bar_0_bar_30 - location ; in front of drawer 1
    loc_bar_10_bar_6_bar_90_bar_30 - location ; in front of drawer 2
    loc_bar_11_bar_2_bar_180_bar_30 - location ; in front of fridge 1
    loc_bar_12_bar_5_bar_270_bar_30 - location ; in front of garbagecan 1
    loc_bar_13_bar_1_bar_0_bar_30 - location ; in front of microwave 1
    loc_bar_14_bar_4_bar_90_bar_30 - location ; in front of shelf 1
    loc_bar_15_bar_0_bar_180_bar_30 - location ; in front of sinkbasin 1
    loc_bar_16_bar_3_bar_270_bar_30 - location ; in front of stoveburner 1
    loc_bar_17_bar_6_bar_0_bar_30 - location ; in front of stoveburner 2
)
(:init
    (receptacleType Cabinet_bar_04 CabinetType)
    (receptacleType Cabinet_bar_03 CabinetType)
    (receptacleType Cabinet_bar_02 CabinetType)
    (receptacleType Cabinet_bar_01 CabinetType)
    (receptacleType CoffeeMachine_bar_01 CoffeeMachineType)
    (receptacleType CounterTop_bar_02 CounterTopType)
    (receptacleType CounterTop_bar_01 CounterTopType)
    (receptacleType DiningTable_bar_01 DiningTableType)
    (receptacleType Drawer_bar_02 DrawerType)
    (receptacleType Drawer_bar_01 DrawerType)
    (receptacleType Fridge_bar_01 FridgeType)
    (receptacleType GarbageCan_bar_01 GarbageCanType)
    (receptacleType Microwave_bar_01 MicrowaveType)
    (receptacleType Shelf_bar_01 ShelfType)
    (receptacleType Sink_bar_01_bar_SinkBasin SinkBasinType)
    (receptacleType StoveBurner_bar_02 StoveBurnerType)
    (receptacleType StoveBurner_bar_01 StoveBurnerType)
    (objectType Plate_bar_01 PlateType)
    (objectType Bowl_bar_01 BowlType)
    (objectType Bread_bar_01 BreadType)
    (objectType Knife_bar_01 KnifeType)
    (objectType SaltShaker_bar_01 SaltShakerType)
    (objectType Fork_bar_01 ForkType)
    (objectType Cup_bar_01 CupType)
    (objectType Lettuce_bar_01 LettuceType)
    (objectType Spoon_bar_01 SpoonType)
    (objectType DishSponge_bar_01 DishSpongeType)
    (objectType Tomato_bar_01 TomatoType)
    (objectType Vase_bar_01 VaseType)
    (objectType Pot_bar_01 PotType)
    (canContain CabinetType BowlType)
    (canContain CabinetType CupType)
    (canContain CabinetType DishSpongeType)
    (canContain CabinetType PlateType)
    (canContain CabinetType PotType)
    (canContain CabinetType SaltShakerType)
    (canContain CabinetType VaseType)
    (canContain CounterTopType BowlType)
    (canContain CounterTopType BreadType)
    (canContain CounterTopType CupType)
    (canContain CounterTopType DishSpongeType)
    (canContain CounterTopType ForkType)
    (canContain CounterTopType KnifeType)
    (canContain CounterTopType LettuceType)
    (canContain CounterTopType PlateType)
    (canContain CounterTopType PotType)
    (canContain CounterTopType SaltShakerType)
    (canContain CounterTopType SpoonType)
    (canContain CounterTopType TomatoType)
    (canContain CounterTopType VaseType)
    (canContain DiningTableType BowlType)
    (canContain DiningTableType BreadType)
    (canContain DiningTableType CupType)
    (canContain DiningTableType DishSpongeType)
    (canContain DiningTableType ForkType)
    (canContain DiningTableType KnifeType)
    (canContain DiningTableType LettuceType)
    (canContain DiningTableType PlateType)
    (canContain DiningTableType PotType)
    (canContain DiningTableType SaltShakerType)
    (canContain DiningTableType SpoonType)
    (canContain DiningTableType TomatoType)
    (canContain DiningTableType VaseType)
    (canContain DrawerType DishSpongeType)
    (canContain DrawerType ForkType)
    (canContain DrawerType KnifeType)
    (canContain DrawerType SaltShakerType)
    (canContain DrawerType SpoonType)
    (canContain FridgeType BowlType)
    (canContain FridgeType BreadType)
    (canContain FridgeType CupType)
    (canContain FridgeType LettuceType)
    (canContain FridgeType PlateType)
    (canContain FridgeType PotType)
    (canContain FridgeType TomatoType)
    (canContain GarbageCanType BreadType)
    (canContain GarbageCanType DishSpongeType)
    (canContain GarbageCanType LettuceType)
    (canContain GarbageCanType TomatoType)
    (canContain MicrowaveType BowlType)
    (canContain MicrowaveType BreadType)
    (canContain MicrowaveType CupType)
    (canContain MicrowaveType PlateType)
    (canContain MicrowaveType TomatoType)
    (canContain ShelfType BowlType)
    (canContain ShelfType CupType)
    (canContain ShelfType DishSpongeType)
    (canContain ShelfType PlateType)
    (canContain ShelfType PotType)
    (canContain ShelfType SaltShakerType)
    (canContain ShelfType VaseType)
    (canContain SinkBasinType BowlType)
    (canContain SinkBasinType CupType)
    (canContain SinkBasinType DishSpongeType)
    (canContain SinkBasinType ForkType)
    (canContain SinkBasinType KnifeType)
    (canContain SinkBasinType LettuceType)
    (canContain SinkBasinType PlateType)
    (canContain SinkBasinType PotType)
    (canContain SinkBasinType SpoonType)
    (canContain SinkBasinType TomatoType)
    (canContain StoveBurnerType PotType)
    (pickupable Plate_bar_01)
    (pickupable Bowl_bar_01)
    (pickupable Bread_bar_01)
    (pickupable Knife_bar_01)
    (pickupable SaltShaker_bar_01)
    (pickupable Fork_bar_01)
    (pickupable Cup_bar_01)
    (pickupable Lettuce_bar_01)
    (pickupable Spoon_bar_01)
    (pickupable DishSponge_bar_01)
    (pickupable Tomato_bar_01)
    (pickupable Vase_bar_01)
    (pickupable Pot_bar_01)
    (isReceptacleObject Plate_bar_01)
    (isReceptacleObject Bowl_bar_01)
    (isReceptacleObject Cup_bar_01)
    (isReceptacleObject Pot_bar_01)
    (openable Cabinet_bar_04)
    (openable Cabinet_bar_03)
    (openable Cabinet_bar_02)
    (openable Cabinet_bar_01)
    (openable Drawer_bar_02)
    (openable Drawer_bar_01)
    (openable Fridge_bar_01)
    (openable Microwave_bar_01)
    (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_30)
    (cleanable Plate_bar_01)
    (cleanable Bowl_bar_01)
    (cleanable Knife_bar_01)
    (cleanable Fork_bar_01)
    (cleanable Cup_bar_01)
    (cleanable Lettuce_bar_01)
    (cleanable Spoon_bar_01)
    (cleanable DishSponge_bar_01)
    (cleanable Tomato_bar_01)
    (cleanable Pot_bar_01)
    (heatable Plate_bar_01)
    (heatable Bread_bar_01)
    (heatable Cup_bar_01)
    (heatable Tomato_bar_01)
    (coolable Plate_bar_01)
    (coolable Bowl_bar_01)
    (coolable Bread_bar_01)
    (coolable Cup_bar_01)
    (coolable Lettuce_bar_01)
    (coolable Tomato_bar_01)
    (coolable Pot_bar_01)
    (isCool Tomato_bar_01)
    (sliceable Bread_bar_01)
    (sliceable Lettuce_bar_01)
    (sliceable Tomato_bar_01)
    (inReceptacle Plate_bar_01 Cabinet_bar_04)
    (inReceptacle Bowl_bar_01 Cabinet_bar_02)
    (inReceptacle Bread_bar_01 CounterTop_bar_02)
    (inReceptacle Knife_bar_01 CounterTop_bar_02)
    (inReceptacle SaltShaker_bar_01 CounterTop_bar_02)
    (inReceptacle Fork_bar_01 DiningTable_bar_01)
    (inReceptacle Cup_bar_01 DiningTable_bar_01)
    (inReceptacle Lettuce_bar_01 DiningTable_bar_01)
    (inReceptacle Spoon_bar_01 Drawer_bar_02)
    (inReceptacle DishSponge_bar_01 Drawer_bar_01)
    (inReceptacle Tomato_bar_01 Fridge_bar_01)
    (inReceptacle Vase_bar_01 Shelf_bar_01)
    (inReceptacle Pot_bar_01 StoveBurner_bar_01)
    (receptacleAtLocation Cabinet_bar_04 loc_bar_1_bar_0_bar_0_bar_30)
    (receptacleAtLocation Cabinet_bar_03 loc_bar_2_bar_3_bar_90_bar_30)
    (receptacleAtLocation Cabinet_bar_02 loc_bar_3_bar_6_bar_180_bar_30)
    (receptacleAtLocation Cabinet_bar_01 loc_bar_4_bar_2_bar_270_bar_30)
    (receptacleAtLocation CoffeeMachine_bar_01 loc_bar_5_bar_5_bar_0_bar_30)
    (receptacleAtLocation CounterTop_bar_02 loc_bar_6_bar_1_bar_90_bar_30)
    (receptacleAtLocation CounterTop_bar_01 loc_bar_7_bar_4_bar_180_bar_30)
    (receptacleAtLocation DiningTable_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (receptacleAtLocation Drawer_bar_02 loc_bar_9_bar_3_bar_0_bar_30)
    (receptacleAtLocation Drawer_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (receptacleAtLocation Fridge_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
    (receptacleAtLocation GarbageCan_bar_01 loc_bar_12_bar_5_bar_270_bar_30)
    (receptacleAtLocation Microwave_bar_01 loc_bar_13_bar_1_bar_0_bar_30)
    (receptacleAtLocation Shelf_bar_01 loc_bar_14_bar_4_bar_90_bar_30)
    (receptacleAtLocation Sink_bar_01_bar_SinkBasin loc_bar_15_bar_0_bar_180_bar_30)
    (receptacleAtLocation StoveBurner_bar_02 loc_bar_16_bar_3_bar_270_bar_30)
    (receptacleAtLocation StoveBurner_bar_01 loc_bar_17_bar_6_bar_0_bar_30)
    (objectAtLocation Plate_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (objectAtLocation Bowl_bar_01 loc_bar_3_bar_6_bar_180_bar_30)
    (objectAtLocation Bread_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (objectAtLocation Knife_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (objectAtLocation SaltShaker_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (objectAtLocation Fork_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (objectAtLocation Cup_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (objectAtLocation Lettuce_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (objectAtLocation Spoon_bar_01 loc_bar_9_bar_3_bar_0_bar_30)
    (objectAtLocation DishSponge_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (objectAtLocation Tomato_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
    (objectAtLocation Vase_bar_01 loc_bar_14_bar_4_bar_90_bar_30)
    (objectAtLocation Pot_bar_01 loc_bar_17_bar_6_bar_0_bar_30)
)
(:goal (exists (?r - receptacle ?o - object) (and (coolable ?o) (isCool ?o) (objectType ?o LettuceType) (receptacleType ?r CounterTopType) (inReceptacle ?o ?r))))
)
